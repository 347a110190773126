import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  DescribeExecutionCommand,
  ExecutionAlreadyExists,
  ExecutionDoesNotExist,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
} from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { executionArn, StepFunctionsWorkflows } from '../../functions/adapters/aws/sfn-workflows.ts';

const sfn = mockClient(SFNClient);
const DEPLOY = 'arn:aws:states:eu-west-1:123456789012:stateMachine:kiln-deploy';
const TEARDOWN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:kiln-teardown';
const input = { environment: 'checkout-dev', deploymentId: 'd-0lq2x5k7c-a1b2c3d4e5' };

function newWorkflows(): StepFunctionsWorkflows {
  return new StepFunctionsWorkflows({
    client: new SFNClient({ region: 'eu-west-1' }),
    stateMachineArns: { deploy: DEPLOY, teardown: TEARDOWN },
  });
}

beforeEach(() => sfn.reset());

describe('StepFunctionsWorkflows.start', () => {
  it("starts the workflow's state machine with an execution named by the deployment id", async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: executionArn(TEARDOWN, input.deploymentId) });

    await newWorkflows().start('teardown', input);

    assert.deepEqual(
      sfn.commandCalls(StartExecutionCommand).map((call) => call.args[0].input),
      [{ stateMachineArn: TEARDOWN, name: input.deploymentId, input: JSON.stringify(input) }],
    );
  });

  it('counts an execution that already exists under that name as started', async () => {
    sfn.on(StartExecutionCommand).rejects(new ExecutionAlreadyExists({ $metadata: {}, message: 'exists' }));

    await newWorkflows().start('deploy', input);
  });

  it('lets any other error through', async () => {
    sfn.on(StartExecutionCommand).rejects(new StateMachineDoesNotExist({ $metadata: {}, message: 'gone' }));

    await assert.rejects(newWorkflows().start('deploy', input), { name: 'StateMachineDoesNotExist' });
  });
});

describe('StepFunctionsWorkflows.isRunning', () => {
  it('describes the execution whose ARN follows from the state machine and the deployment id', async () => {
    sfn.on(DescribeExecutionCommand).resolvesOnce({ status: 'RUNNING' }).resolves({ status: 'SUCCEEDED' });
    const workflows = newWorkflows();

    assert.equal(await workflows.isRunning('deploy', input.deploymentId), true);
    assert.equal(await workflows.isRunning('deploy', input.deploymentId), false);
    assert.deepEqual(sfn.commandCalls(DescribeExecutionCommand)[0]?.args[0].input, {
      executionArn: `arn:aws:states:eu-west-1:123456789012:execution:kiln-deploy:${input.deploymentId}`,
    });
  });

  it('is not running when the execution does not exist', async () => {
    sfn.on(DescribeExecutionCommand).rejects(new ExecutionDoesNotExist({ $metadata: {}, message: 'none' }));

    assert.equal(await newWorkflows().isRunning('teardown', input.deploymentId), false);
  });
});

describe('execution ARNs', () => {
  it('keep the partition, region and account of the state machine', () => {
    assert.equal(
      executionArn('arn:aws-cn:states:cn-north-1:123456789012:stateMachine:kiln-deploy', 'd-1'),
      'arn:aws-cn:states:cn-north-1:123456789012:execution:kiln-deploy:d-1',
    );
  });

  it('refuse an ARN that names no state machine', () => {
    assert.throws(
      () => executionArn('arn:aws:lambda:eu-west-1:123456789012:function:x', 'd-1'),
      /not a state machine ARN/,
    );
  });
});
