import { answerApproval } from '../../core/requests.ts';
import { deploymentId, environmentName, rejectBody } from '../../shared/api-schemas.ts';
import { apiHandler, json, parseBody, pathParameter } from '../../shared/http.ts';
import { requestPorts } from '../../shared/roots/request.ts';
import { deploymentView } from '../../shared/views.ts';

/**
 * POST /environments/{name}/deployments/{id}/reject: an approver's answer to a deployment waiting for
 * approval (200 with the deployment); for prod, not from the person who asked for it.
 */
export const handler = apiHandler(requestPorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', environmentName);
  const id = pathParameter(event, 'id', deploymentId);
  const { comment } = parseBody(event, rejectBody);
  const answer = { decision: 'rejected' as const, ...(comment ? { comment } : {}) };
  return json(200, deploymentView(await answerApproval(ports, actor, name, id, answer)));
});
