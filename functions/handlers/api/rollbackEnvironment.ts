import { personActing } from '../../core/actors.ts';
import { requestRollback } from '../../core/requests.ts';
import { environmentName, upkeepBody } from '../../shared/api-schemas.ts';
import { apiHandler, json, parseBody, pathParameter } from '../../shared/http.ts';
import { requestPorts } from '../../shared/roots/request.ts';
import { environmentView } from '../../shared/views.ts';

/**
 * POST /environments/{name}/rollback: back to the previous spec, at once to its warm stack inside the
 * rollback window (202 with the rollback's deployment).
 */
export const handler = apiHandler(requestPorts, async ({ event, caller, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const { reason } = parseBody(event, upkeepBody);
  const accepted = await requestRollback(ports, personActing(caller, 'rollback'), name, reason);
  return json(202, { ...environmentView(accepted.environment), deploymentId: accepted.deploymentId ?? null });
});
