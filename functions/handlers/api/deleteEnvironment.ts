import { deleteEnvironment } from '../../core/requests.ts';
import { environmentName } from '../../shared/api-schemas.ts';
import { apiHandler, ifMatchOf, json, pathParameter } from '../../shared/http.ts';
import { requestPorts } from '../../shared/roots/request.ts';

/** DELETE /environments/{name}: 202, tears every stack down and keeps the history. */
export const handler = apiHandler(requestPorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const accepted = await deleteEnvironment(ports, actor, name, ifMatchOf(event));
  return json(202, { deploymentId: accepted.deploymentId ?? null, status: accepted.environment.status });
});
