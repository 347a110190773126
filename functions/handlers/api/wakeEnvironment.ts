import { personActing } from '../../core/actors.ts';
import { requestWake } from '../../core/requests.ts';
import { environmentName, upkeepBody } from '../../shared/api-schemas.ts';
import { apiHandler, json, parseBody, pathParameter } from '../../shared/http.ts';
import { requestPorts } from '../../shared/roots/request.ts';
import { environmentView } from '../../shared/views.ts';

/** POST /environments/{name}/wake: wake a sleeping environment (202 with the wake's deployment, if one was needed). */
export const handler = apiHandler(requestPorts, async ({ event, caller, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const { reason } = parseBody(event, upkeepBody);
  const actor = personActing(caller, 'wake');
  const accepted = await requestWake(ports, actor, name, reason ?? `woken by ${actor.principal}`);
  return json(202, { ...environmentView(accepted.environment), deploymentId: accepted.deploymentId ?? null });
});
