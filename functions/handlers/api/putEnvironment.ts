import { putEnvironment } from '../../core/requests.ts';
import { environmentName } from '../../shared/api-schemas.ts';
import { putEnvironmentBody } from '../../shared/environment-schemas.ts';
import { apiHandler, etag, ifMatchOf, json, parseBody, pathParameter } from '../../shared/http.ts';
import { requestPorts } from '../../shared/roots/request.ts';
import { environmentView } from '../../shared/views.ts';

/** PUT /environments/{name}: create or replace an environment's desired state (If-Match optional). */
export const handler = apiHandler(requestPorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const ifMatch = ifMatchOf(event);
  const body = parseBody(event, putEnvironmentBody);
  const accepted = await putEnvironment(ports, actor, { name, ...body }, ifMatch);
  return json(
    accepted.created ? 201 : 200,
    { ...environmentView(accepted.environment), deploymentId: accepted.deploymentId ?? null },
    etag(accepted.environment.version),
  );
});
