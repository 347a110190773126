import { isTerminal } from '../deployment-lifecycle.ts';
import { ApprovalRejectedError, DeploymentCancelledError } from '../errors.ts';
import { deploymentStatusChanged } from '../lifecycle-events.ts';
import type { RequestPorts } from '../ports/index.ts';
import type { TaskAnswer, WorkflowInput } from '../ports/workflows.ts';
import type { Deployment } from '../types.ts';
import { loadTask } from './context.ts';

/**
 * The approval gate's callback task (AwaitApproval): records the task token the workflow now waits on
 * and marks the deployment `awaiting_approval`, holding no lease; an approver's answer sends the token
 * back (requests.ts `answerApproval`). Run again after a restart of the embedded runtime (whose waits
 * do not survive it) it finds the answer given meanwhile in the record and sends it itself, so an answer
 * is never lost; on AWS Step Functions keeps the wait and never runs it twice.
 */
export async function requestApproval(
  ports: RequestPorts,
  input: WorkflowInput & { taskToken: string },
): Promise<void> {
  const { deployment, environment, startedAt } = await loadTask(ports, input);
  const answer = answerOf(deployment);
  if (answer) {
    await ports.workflows.answerTask(input.taskToken, answer);
    return;
  }
  if (deployment.approval?.taskToken === input.taskToken) return;
  const awaiting = await ports.store.updateDeployment(input.environment, deployment.id, {
    status: 'awaiting_approval',
    approval: { requestedAt: deployment.approval?.requestedAt ?? startedAt, taskToken: input.taskToken },
  });
  await ports.events.publish([deploymentStatusChanged(awaiting, environment)]);
  await ports.store.appendAudit({
    id: `${deployment.id}:approval.requested`,
    environment: input.environment,
    at: startedAt,
    actor: 'kiln',
    trigger: deployment.trigger,
    action: 'deployment.awaiting-approval',
    reason: `risk score ${deployment.risk?.score} is above the threshold ${deployment.risk?.threshold}`,
    detail: { deploymentId: deployment.id, score: deployment.risk?.score ?? null },
  });
}

/**
 * What the waiting workflow is told once the deployment has its answer: go on when approved; fail when
 * rejected, or when it ended or was asked to stop before anyone answered. Undefined while it waits.
 */
export function answerOf(deployment: Deployment): TaskAnswer | undefined {
  const approval = deployment.approval;
  if (approval?.decision === 'approved') return { output: { by: approval.by } };
  if (approval?.decision === 'rejected') {
    const comment = approval.comment ? `: ${approval.comment}` : '';
    return { error: ApprovalRejectedError.name, cause: `rejected by ${approval.by}${comment}` };
  }
  if (deployment.cancelRequest || isTerminal(deployment.status)) {
    return {
      error: DeploymentCancelledError.name,
      cause: `cancelled by ${deployment.cancelRequest?.by ?? 'kiln'} while it waited for approval`,
    };
  }
  return undefined;
}
