import { snoozeEnvironment } from '../../core/requests.ts';
import { environmentName, snoozeBody } from '../../shared/api-schemas.ts';
import { apiHandler, json, parseBody, pathParameter } from '../../shared/http.ts';
import { requestPorts } from '../../shared/roots/request.ts';
import { environmentView } from '../../shared/views.ts';

/** POST /environments/{name}/snooze `{ until }`: keep it awake until then (waking it if it sleeps). */
export const handler = apiHandler(requestPorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const { until } = parseBody(event, snoozeBody);
  const accepted = await snoozeEnvironment(ports, actor, name, until);
  return json(200, { ...environmentView(accepted.environment), deploymentId: accepted.deploymentId ?? null });
});
