import {
  DescribeExecutionCommand,
  SendTaskFailureCommand,
  SendTaskSuccessCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { TaskAnswer, WorkflowInput, WorkflowName, Workflows } from '../../core/ports/workflows.ts';
import { ignoringAwsErrors } from './aws-errors.ts';

export interface StepFunctionsWorkflowsOptions {
  client: SFNClient;
  /** State machine of each workflow. */
  stateMachineArns: Readonly<Record<WorkflowName, string>>;
}

/**
 * Step Functions workflows. An execution is named by its deployment id, so starting a deployment twice
 * (a redelivered request, a retried task) starts one execution, and its ARN follows from the id alone.
 */
export class StepFunctionsWorkflows implements Workflows {
  readonly #client: SFNClient;
  readonly #stateMachineArns: Readonly<Record<WorkflowName, string>>;

  constructor(options: StepFunctionsWorkflowsOptions) {
    this.#client = options.client;
    this.#stateMachineArns = options.stateMachineArns;
  }

  /**
   * Step Functions answers a repeated start of a running execution with the same input with that
   * execution, and anything else under a taken name with ExecutionAlreadyExists: the deployment has
   * started either way.
   */
  async start(workflow: WorkflowName, input: WorkflowInput): Promise<void> {
    await ignoringAwsErrors(['ExecutionAlreadyExists'], () =>
      this.#client.send(
        new StartExecutionCommand({
          stateMachineArn: this.#stateMachineArns[workflow],
          name: input.deploymentId,
          input: JSON.stringify(input),
        }),
      ),
    );
  }

  /** An execution that does not exist is not running (the lease it held may be reclaimed). */
  async isRunning(workflow: WorkflowName, deploymentId: string): Promise<boolean> {
    const execution = await ignoringAwsErrors(['ExecutionDoesNotExist'], () =>
      this.#client.send(
        new DescribeExecutionCommand({
          executionArn: executionArn(this.#stateMachineArns[workflow], deploymentId),
        }),
      ),
    );
    return execution?.status === 'RUNNING';
  }

  /** A token no longer waited on (answered already, timed out, its execution ended) is not an error here. */
  async answerTask(taskToken: string, answer: TaskAnswer): Promise<void> {
    await ignoringAwsErrors(['TaskTimedOut', 'TaskDoesNotExist', 'InvalidToken'], () =>
      'output' in answer
        ? this.#client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(answer.output) }))
        : this.#client.send(
            new SendTaskFailureCommand({ taskToken, error: answer.error, cause: answer.cause }),
          ),
    );
  }
}

/** `arn:<partition>:states:<region>:<account>:stateMachine:<name>` → `…:execution:<name>:<executionName>`. */
export function executionArn(stateMachineArn: string, executionName: string): string {
  const marker = ':stateMachine:';
  const at = stateMachineArn.indexOf(marker);
  if (at < 0) throw new Error(`not a state machine ARN: ${stateMachineArn}`);
  return `${stateMachineArn.slice(0, at)}:execution:${stateMachineArn.slice(at + marker.length)}:${executionName}`;
}
