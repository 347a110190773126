import { cancelDeployment } from '../../core/requests.ts';
import { deploymentId, environmentName } from '../../shared/api-schemas.ts';
import { apiHandler, json, pathParameter } from '../../shared/http.ts';
import { requestPorts } from '../../shared/roots/request.ts';
import { deploymentView } from '../../shared/views.ts';

/**
 * POST /environments/{name}/deployments/{id}/cancel: 202, the workflow stops at its next phase boundary
 * (a queued deployment never starts; a running one rolls back; one waiting for an approval ends at
 * once). After the cutover it is too late.
 */
export const handler = apiHandler(requestPorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const id = pathParameter(event, 'id', deploymentId);
  return json(202, deploymentView(await cancelDeployment(ports, actor, name, id)));
});
