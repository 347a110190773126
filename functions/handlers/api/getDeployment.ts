import { NotFoundError } from '../../core/errors.ts';
import { ownedEnvironment } from '../../core/requests.ts';
import { deploymentId, environmentName } from '../../shared/api-schemas.ts';
import { apiHandler, json, pathParameter } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { deploymentView } from '../../shared/views.ts';

/** GET /environments/{name}/deployments/{id}: status, outcome and steps with timestamps. */
export const handler = apiHandler(storePorts, async ({ event, caller, ports }) => {
  const environment = await ownedEnvironment(ports, caller, pathParameter(event, 'name', environmentName));
  const id = pathParameter(event, 'id', deploymentId);
  const deployment = await ports.store.getDeployment(environment.name, id);
  if (!deployment) throw new NotFoundError(`deployment ${id} of ${environment.name} does not exist`);
  return json(200, deploymentView(deployment, { withSteps: true }));
});
