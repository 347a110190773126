import { ownedEnvironment } from '../../core/requests.ts';
import { environmentName } from '../../shared/api-schemas.ts';
import { apiHandler, etag, json, pathParameter } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { environmentView } from '../../shared/views.ts';

/** GET /environments/{name}: desired state, live stack, status and endpoint. */
export const handler = apiHandler(storePorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const environment = await ownedEnvironment(ports, actor, name, 'environment:read');
  return json(200, environmentView(environment), etag(environment.version));
});
