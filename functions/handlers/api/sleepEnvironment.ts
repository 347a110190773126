import { requestSleep } from '../../core/requests.ts';
import { environmentName, upkeepBody } from '../../shared/api-schemas.ts';
import { apiHandler, json, parseBody, pathParameter } from '../../shared/http.ts';
import { requestPorts } from '../../shared/roots/request.ts';
import { environmentView } from '../../shared/views.ts';

/** POST /environments/{name}/sleep: put the environment to sleep now (202 with the sleep's deployment). */
export const handler = apiHandler(requestPorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const { reason } = parseBody(event, upkeepBody);
  const accepted = await requestSleep(ports, actor, name, reason ?? `put to sleep by ${actor.principal}`);
  return json(202, { ...environmentView(accepted.environment), deploymentId: accepted.deploymentId ?? null });
});
