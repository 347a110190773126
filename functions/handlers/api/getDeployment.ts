import { NotFoundError } from '../../core/errors.ts';
import { ownedEnvironment } from '../../core/requests.ts';
import { deploymentId, environmentName } from '../../shared/api-schemas.ts';
import { apiHandler, json, pathParameter } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { deploymentDetailView } from '../../shared/views.ts';

/** GET /environments/{name}/deployments/{id}: status, outcome, steps with timestamps; while running, the traffic split. */
export const handler = apiHandler(storePorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const environment = await ownedEnvironment(ports, actor, name, 'environment:read');
  const id = pathParameter(event, 'id', deploymentId);
  const deployment = await ports.store.getDeployment(environment.name, id);
  if (!deployment) throw new NotFoundError(`deployment ${id} of ${environment.name} does not exist`);
  // While it runs, the split it has set so far (a canary's current step).
  const running = deployment.status === 'running' && environment.lease?.holder === deployment.id;
  return json(200, deploymentDetailView(deployment, running ? (environment.weights ?? {}) : undefined));
});
