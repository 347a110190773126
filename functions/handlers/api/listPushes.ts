import { ownedEnvironment } from '../../core/requests.ts';
import { deploymentListQuery, environmentName } from '../../shared/api-schemas.ts';
import { apiHandler, json, pathParameter, validate } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { pushView } from '../../shared/views.ts';

/** GET /environments/{name}/pushes?limit=: the pushes received for the environment, newest first, with their outcome. */
export const handler = apiHandler(storePorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const environment = await ownedEnvironment(ports, actor, name, 'environment:read');
  const { limit } = validate(deploymentListQuery, event.queryStringParameters ?? {}, 'the query');
  const pushes = await ports.store.listPushes(environment.name, limit);
  return json(200, { pushes: pushes.map(pushView) });
});
