import { SFNClient } from '@aws-sdk/client-sfn';
import { StepFunctionsWorkflows } from '../../adapters/aws/sfn-workflows.ts';
import type { Workflows } from '../../core/ports/workflows.ts';
import { readWorkflowsConfig } from '../config.ts';

/** Step Functions executions of the state machines KILN_*_STATE_MACHINE_ARN name. */
export function buildAwsWorkflows(config = readWorkflowsConfig(), client = new SFNClient({})): Workflows {
  return new StepFunctionsWorkflows({ client, stateMachineArns: config.stateMachineArns });
}
