import type { DeploymentAction } from '../types.ts';

/** Input of the deploy and teardown workflows: which deployment of which environment to run. */
export interface WorkflowInput {
  environment: string;
  deploymentId: string;
  /** The deployment waits for an approval before it takes the lease (see core/risk.ts). */
  approval?: true;
}

export type WorkflowName = 'deploy' | 'teardown';

/** The workflow that runs a deployment: a sleep is a teardown that keeps the endpoint and the spec. */
export function workflowOf(action: DeploymentAction): WorkflowName {
  return action === 'deploy' ? 'deploy' : 'teardown';
}

/** Starts and observes workflow executions (Step Functions; embedded: the ASL runner). */
export interface Workflows {
  /** Starts the workflow, named by the deployment id so a repeated start is a no-op. */
  start(workflow: WorkflowName, input: WorkflowInput): Promise<void>;
  /** Whether the execution for this deployment is still running (used to reclaim dead leases). */
  isRunning(workflow: WorkflowName, deploymentId: string): Promise<boolean>;
  /**
   * Answers a callback Task waiting on `taskToken`: it goes on with `output`, or fails with `error`
   * (its Catch sees the name). A token no longer waited on (answered, timed out) is ignored.
   */
  answerTask(taskToken: string, answer: TaskAnswer): Promise<void>;
}

export type TaskAnswer = { output: unknown } | { error: string; cause: string };
