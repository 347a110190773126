import { ownedEnvironment } from '../../core/requests.ts';
import { deploymentListQuery, environmentName } from '../../shared/api-schemas.ts';
import { apiHandler, json, pathParameter, validate } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { deploymentView } from '../../shared/views.ts';

/** GET /environments/{name}/deployments?limit=: the most recent deployments, newest first. */
export const handler = apiHandler(storePorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const environment = await ownedEnvironment(ports, actor, name, 'environment:read');
  const { limit } = validate(deploymentListQuery, event.queryStringParameters ?? {}, 'the query');
  const deployments = await ports.store.listDeployments(environment.name, limit);
  return json(200, { deployments: deployments.map((d) => deploymentView(d)) });
});
