import { ownedEnvironment } from '../../core/requests.ts';
import { environmentName } from '../../shared/api-schemas.ts';
import { apiHandler, json, pathParameter } from '../../shared/http.ts';
import { deploymentView } from '../../shared/views.ts';

/** How many recent deployments the list returns. */
const RECENT = 50;

/** GET /environments/{name}/deployments: the most recent deployments, newest first. */
export const handler = apiHandler(async ({ event, caller, ports }) => {
  const environment = await ownedEnvironment(ports, caller, pathParameter(event, 'name', environmentName));
  const deployments = await ports.store.listDeployments(environment.name, RECENT);
  return json(200, { deployments: deployments.map((d) => deploymentView(d)) });
});
