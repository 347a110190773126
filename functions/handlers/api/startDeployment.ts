import { requestDeployment } from '../../core/requests.ts';
import { environmentName, startDeploymentBody } from '../../shared/api-schemas.ts';
import { apiHandler, ifMatchOf, json, parseBody, pathParameter } from '../../shared/http.ts';
import { requestPorts } from '../../shared/roots/request.ts';

/** POST /environments/{name}/deployments: deploy a version, or redeploy the current spec. */
export const handler = apiHandler(requestPorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const ifMatch = ifMatchOf(event);
  const body = parseBody(event, startDeploymentBody);
  const accepted = await requestDeployment(ports, actor, name, body, ifMatch);
  return json(
    202,
    { deploymentId: accepted.deploymentId },
    { location: `/environments/${name}/deployments/${accepted.deploymentId}` },
  );
});
