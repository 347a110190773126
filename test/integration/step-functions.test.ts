// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ASL `${...}` substitutions, not templates.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import {
  type ExecutionEnd,
  LocalStepFunctions,
  type LocalStepFunctionsOptions,
  type TaskHandler,
} from '../../functions/adapters/local/step-functions.ts';
import { LeaseHeldError, StackNotHealthyError } from '../../functions/core/errors.ts';
import type { WorkflowInput } from '../../functions/core/ports/workflows.ts';

const root = mkdtempSync(join(tmpdir(), 'kiln-sfn-'));
const CRASHING_RUNNER = join(import.meta.dirname, '../fixtures/crashing-runner.ts');
after(() => rmSync(root, { recursive: true, force: true }));

let folders = 0;

/** A fresh folder holding one `<workflow>.asl.json` per entry. */
function machinesDir(definitions: Record<string, object>): string {
  const dir = join(root, `machines-${++folders}`);
  mkdirSync(dir);
  for (const [workflow, definition] of Object.entries(definitions)) {
    writeFileSync(join(dir, `${workflow}.asl.json`), JSON.stringify(definition));
  }
  return dir;
}

/** A runner over fixture definitions that records execution ends and shuts down after the test. */
async function embedded(
  t: TestContext,
  definitions: Record<string, object>,
  tasks: Record<string, TaskHandler>,
  options: Partial<LocalStepFunctionsOptions> = {},
) {
  const ends: ExecutionEnd[] = [];
  const sfn = await LocalStepFunctions.create({
    stateMachinesDir: machinesDir(definitions),
    tasks,
    onExecutionEnd: (end) => ends.push(end),
    ...options,
  });
  t.after(() => sfn.shutdown());
  return { sfn, ends };
}

function input(deploymentId: string): WorkflowInput {
  return { environment: 'checkout-staging', deploymentId };
}

/** A Task state; it ends the execution unless `fields` give it a Next. */
function task(resource: string, fields: object = {}) {
  return { Type: 'Task', Resource: resource, ...('Next' in fields ? {} : { End: true }), ...fields };
}

/** Records every call of a handler, and answers with `respond`. */
function recorder(respond: (event: unknown) => unknown = () => ({})) {
  const calls: { event: unknown; context: Context }[] = [];
  const handler: TaskHandler = async (event, context) => {
    calls.push({ event, context });
    return respond(event);
  };
  return { calls, handler };
}

/** Polls a synchronous condition (every 20 ms, at most 10 s). */
async function eventually(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('LocalStepFunctions', () => {
  it('dispatches every Task state to its function handler with the state input, and outputs flow on', async (t) => {
    const acquire = recorder(() => ({ token: 'lease-1' }));
    const provisionCalls: { event: unknown; context: Context }[] = [];
    const provision = middy(async (event: unknown, context: Context) => {
      provisionCalls.push({ event, context });
      return { stackId: 'checkout-staging-v0001', createdAt: new Date(0) };
    });
    const record = recorder(() => undefined);
    const { sfn, ends } = await embedded(
      t,
      {
        deploy: {
          StartAt: 'Acquire lease',
          States: {
            'Acquire lease': task('${AcquireLeaseFunctionArn}', { ResultPath: '$.lease', Next: 'Provision' }),
            Provision: task('${ProvisionStackFunctionArn}', {
              TimeoutSeconds: 30,
              Parameters: {
                'environment.$': '$.environment',
                'leaseToken.$': '$.lease.token',
                'executionName.$': '$$.Execution.Name',
              },
              ResultPath: '$.stack',
              Next: 'Record provisioned',
            }),
            'Record provisioned': task('${RecordStepFunctionArn}', {
              Parameters: { step: 'provisioned', 'stackId.$': '$.stack.stackId' },
              ResultPath: '$.recorded',
              Next: 'Record done',
            }),
            'Record done': task('${RecordStepFunctionArn}', {
              Parameters: { step: 'done', 'state.$': '$' },
              End: true,
            }),
          },
        },
      },
      { AcquireLease: acquire.handler, ProvisionStack: provision, RecordStep: record.handler },
    );

    await sfn.start('deploy', input('d-1'));
    await sfn.waitForIdle(5_000);

    assert.deepEqual(ends, [{ workflow: 'deploy', deploymentId: 'd-1', status: 'SUCCEEDED', output: null }]);
    assert.deepEqual(
      acquire.calls.map(({ event }) => event),
      [input('d-1')],
    );
    assert.deepEqual(
      provisionCalls.map(({ event }) => event),
      [{ environment: 'checkout-staging', leaseToken: 'lease-1', executionName: 'd-1' }],
    );
    assert.deepEqual(
      record.calls.map(({ event }) => event),
      [
        { step: 'provisioned', stackId: 'checkout-staging-v0001' },
        {
          step: 'done',
          state: {
            ...input('d-1'),
            lease: { token: 'lease-1' },
            // The Lambda boundary is JSON: a Date comes back as its ISO string, undefined as null.
            stack: { stackId: 'checkout-staging-v0001', createdAt: '1970-01-01T00:00:00.000Z' },
            recorded: null,
          },
        },
      ],
    );

    const acquireContext = acquire.calls[0].context;
    assert.equal(acquireContext.functionName, 'kiln-AcquireLease');
    assert.equal(
      acquireContext.invokedFunctionArn,
      'arn:aws:lambda:local:000000000000:function:kiln-AcquireLease',
    );
    assert.match(acquireContext.awsRequestId, /^[0-9a-f-]{36}$/);
    assert.notEqual(record.calls[0].context.awsRequestId, record.calls[1].context.awsRequestId);
    const remaining = acquireContext.getRemainingTimeInMillis();
    assert.ok(remaining > 50_000 && remaining <= 60_000, `default Task timeout, got ${remaining}`);
    const provisionRemaining = provisionCalls[0].context.getRemainingTimeInMillis();
    assert.ok(provisionRemaining <= 30_000, `the Task's TimeoutSeconds, got ${provisionRemaining}`);
    assert.equal(provisionCalls[0].context.functionName, 'kiln-ProvisionStack');
  });

  it('retries and catches a handler error by its name (LeaseHeldError)', async (t) => {
    const touchedBefore: boolean[] = [];
    const acquire = recorder((event) => {
      const state = event as { touched?: boolean };
      touchedBefore.push(state.touched === true);
      state.touched = true;
      throw new LeaseHeldError('checkout-staging is leased by d-0');
    });
    const queue = recorder(() => ({ queued: true }));
    const { sfn, ends } = await embedded(
      t,
      {
        deploy: {
          StartAt: 'Acquire lease',
          States: {
            'Acquire lease': task('${AcquireLeaseFunctionArn}', {
              Retry: [
                { ErrorEquals: ['VersionConflictError'], IntervalSeconds: 1, MaxAttempts: 5 },
                { ErrorEquals: ['LeaseHeldError'], IntervalSeconds: 1, MaxAttempts: 1 },
              ],
              Catch: [{ ErrorEquals: ['LeaseHeldError'], ResultPath: '$.error', Next: 'Queue' }],
              Next: 'Done',
            }),
            Queue: task('${QueueDeploymentFunctionArn}', { Next: 'Done' }),
            Done: { Type: 'Succeed' },
          },
        },
      },
      { AcquireLease: acquire.handler, QueueDeployment: queue.handler },
    );

    await sfn.start('deploy', input('d-2'));
    await sfn.waitForIdle(5_000);

    assert.equal(acquire.calls.length, 2, 'the first call and one retry');
    assert.deepEqual(
      touchedBefore,
      [false, false],
      'each attempt gets the state input afresh, as from Lambda',
    );
    assert.deepEqual(
      queue.calls.map(({ event }) => event),
      [{ ...input('d-2'), error: { Error: 'LeaseHeldError', Cause: 'checkout-staging is leased by d-0' } }],
    );
    assert.deepEqual(ends, [
      {
        workflow: 'deploy',
        deploymentId: 'd-2',
        status: 'SUCCEEDED',
        output: { queued: true },
      },
    ]);
  });

  it('fails the execution with the name of an error nothing catches', async (t) => {
    const probe = recorder(() => {
      throw new StackNotHealthyError('3 of 3 probes failed');
    });
    const lines: string[] = [];
    const { sfn, ends } = await embedded(
      t,
      { teardown: { StartAt: 'Probe', States: { Probe: task('${ProbeHealthFunctionArn}') } } },
      { ProbeHealth: probe.handler },
      { log: (line) => lines.push(line) },
    );

    await sfn.start('teardown', input('d-3'));
    await sfn.waitForIdle(5_000);

    assert.deepEqual(ends, [
      {
        workflow: 'teardown',
        deploymentId: 'd-3',
        status: 'FAILED',
        error: { name: 'StackNotHealthyError', message: '3 of 3 probes failed' },
      },
    ]);
    assert.equal(await sfn.isRunning('teardown', 'd-3'), false);
    assert.deepEqual(lines, [
      'teardown d-3 started',
      'teardown d-3 failed: StackNotHealthyError: 3 of 3 probes failed',
    ]);
  });

  it('dispatches the Task states inside a Map state', async (t) => {
    const list = recorder(() => ['v0001', 'v0002', 'v0003']);
    const drain = recorder((event) => `drained ${event}`);
    const record = recorder();
    const { sfn } = await embedded(
      t,
      {
        deploy: {
          StartAt: 'List stacks',
          States: {
            'List stacks': task('${ListStacksFunctionArn}', { ResultPath: '$.stacks', Next: 'Each stack' }),
            'Each stack': {
              Type: 'Map',
              ItemsPath: '$.stacks',
              ItemProcessor: {
                ProcessorConfig: { Mode: 'INLINE' },
                StartAt: 'Drain',
                States: { Drain: task('${DrainStackFunctionArn}') },
              },
              ResultPath: '$.drained',
              Next: 'Record',
            },
            Record: task('${RecordStepFunctionArn}', { InputPath: '$.drained' }),
          },
        },
      },
      { ListStacks: list.handler, DrainStack: drain.handler, RecordStep: record.handler },
    );

    await sfn.start('deploy', input('d-4'));
    await sfn.waitForIdle(5_000);

    assert.deepEqual(drain.calls.map(({ event }) => event).sort(), ['v0001', 'v0002', 'v0003']);
    assert.equal(drain.calls[0].context.functionName, 'kiln-DrainStack');
    assert.deepEqual(
      record.calls.map(({ event }) => event),
      [['drained v0001', 'drained v0002', 'drained v0003']],
    );
  });

  it('refuses to load when a Task function has no handler, naming it', async () => {
    const dir = machinesDir({
      deploy: {
        StartAt: 'Acquire lease',
        States: {
          'Acquire lease': task('${AcquireLeaseFunctionArn}', { Next: 'Provision' }),
          Provision: task('${ProvisionStackFunctionArn}'),
        },
      },
    });

    await assert.rejects(
      LocalStepFunctions.create({ stateMachinesDir: dir, tasks: { AcquireLease: async () => ({}) } }),
      {
        message: `Cannot run state machine ${join(dir, 'deploy.asl.json')}: no task handler for function(s) ProvisionStack (Task state(s) "Provision"): a Task without a local handler would call real AWS Lambda`,
      },
    );
  });

  it('refuses to load a definition with an unresolved substitution', async () => {
    const dir = machinesDir({
      deploy: {
        StartAt: 'Tag',
        States: { Tag: { Type: 'Pass', Parameters: { table: '${TableName}' }, End: true } },
      },
    });

    await assert.rejects(
      LocalStepFunctions.create({ stateMachinesDir: dir, tasks: {} }),
      /Unresolved substitution\(s\): TableName/,
    );
  });

  it('refuses to load a Task that does not name a Kiln function, or ASL the runner would ignore', async () => {
    const hardCoded = machinesDir({
      deploy: { StartAt: 'A', States: { A: task('arn:aws:lambda:eu-west-1:123456789012:function:acquire') } },
    });
    const jsonata = machinesDir({
      deploy: { QueryLanguage: 'JSONata', StartAt: 'A', States: { A: task('${AcquireLeaseFunctionArn}') } },
    });
    const tasks = { AcquireLease: async () => ({}) };

    await assert.rejects(
      LocalStepFunctions.create({ stateMachinesDir: hardCoded, tasks }),
      /not a Kiln function reference/,
    );
    await assert.rejects(
      LocalStepFunctions.create({ stateMachinesDir: jsonata, tasks }),
      /JSONata is silently ignored/,
    );
  });

  it('runs an execution once however often it is started with the same deployment id', async (t) => {
    const acquire = recorder();
    const { sfn, ends } = await embedded(
      t,
      { deploy: { StartAt: 'Acquire', States: { Acquire: task('${AcquireLeaseFunctionArn}') } } },
      { AcquireLease: acquire.handler },
    );

    await Promise.all([sfn.start('deploy', input('d-5')), sfn.start('deploy', input('d-5'))]);
    await sfn.waitForIdle(5_000);
    await sfn.start('deploy', input('d-5'));
    await sfn.waitForIdle(5_000);

    assert.equal(acquire.calls.length, 1);
    assert.equal(ends.length, 1);

    await sfn.start('deploy', input('d-6'));
    await sfn.waitForIdle(5_000);
    assert.equal(acquire.calls.length, 2, 'another deployment id is another execution');
  });

  it('reports an execution as running only while it runs', async (t) => {
    const entered = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    t.after(() => release.resolve());
    const { sfn } = await embedded(
      t,
      { deploy: { StartAt: 'Provision', States: { Provision: task('${ProvisionStackFunctionArn}') } } },
      {
        ProvisionStack: async () => {
          entered.resolve();
          await release.promise;
          return {};
        },
      },
    );

    await sfn.start('deploy', input('d-7'));
    await entered.promise;

    assert.equal(await sfn.isRunning('deploy', 'd-7'), true);
    assert.equal(await sfn.isRunning('teardown', 'd-7'), false);
    assert.equal(await sfn.isRunning('deploy', 'd-unknown'), false);
    await assert.rejects(sfn.waitForIdle(50), { message: 'Still running after 50 ms: deploy d-7' });

    release.resolve();
    await sfn.waitForIdle(5_000);
    assert.equal(await sfn.isRunning('deploy', 'd-7'), false);
  });

  it('resumes an execution the previous process left running at the state it was in, never re-running completed states', async (t) => {
    const definitions = {
      deploy: {
        StartAt: 'Provision',
        States: {
          Provision: task('${ProvisionStackFunctionArn}', { ResultPath: '$.stack', Next: 'Bake' }),
          Bake: { Type: 'Wait', Seconds: 1, Next: 'Mark live' },
          'Mark live': task('${MarkLiveFunctionArn}'),
        },
      },
    };
    const stateMachinesDir = machinesDir(definitions);
    const executionsDir = join(stateMachinesDir, 'data', 'executions');
    const checkpoints = () =>
      readdirSync(executionsDir).map((f) => JSON.parse(readFileSync(join(executionsDir, f), 'utf8')));
    const provisioned = Promise.withResolvers<void>();
    const provision = recorder(() => {
      provisioned.resolve();
      return { stackId: 'checkout-staging-v0002' };
    });
    const markLive = recorder();
    const tasks = { ProvisionStack: provision.handler, MarkLive: markLive.handler };

    const firstEnds: ExecutionEnd[] = [];
    const first = await LocalStepFunctions.create({
      stateMachinesDir,
      tasks,
      executionsDir,
      onExecutionEnd: (end) => firstEnds.push(end),
    });
    await first.start('deploy', input('d-8'));
    await provisioned.promise;
    await eventually(() => checkpoints()[0]?.state?.name === 'Bake');
    await first.shutdown();

    assert.equal(markLive.calls.length, 0, 'stopped during the Wait state');
    assert.deepEqual(firstEnds, [{ workflow: 'deploy', deploymentId: 'd-8', status: 'ABORTED' }]);
    assert.equal(await first.isRunning('deploy', 'd-8'), false);
    const [checkpoint] = checkpoints();
    assert.equal(checkpoint.workflow, 'deploy');
    assert.deepEqual(checkpoint.input, input('d-8'));
    assert.deepEqual(checkpoint.state.input, {
      ...input('d-8'),
      stack: { stackId: 'checkout-staging-v0002' },
    });
    await assert.rejects(first.start('deploy', input('d-9')), /shut down/);

    const { sfn: second, ends } = await embedded(t, definitions, tasks, { stateMachinesDir, executionsDir });
    assert.equal(await second.isRunning('deploy', 'd-8'), true, 'an interrupted execution counts as running');
    const resumed = await second.resumeInterrupted();

    assert.deepEqual(
      resumed.map(({ workflow, input, state }) => ({ workflow, input, state: state?.name })),
      [{ workflow: 'deploy', input: input('d-8'), state: 'Bake' }],
    );
    assert.equal(await second.isRunning('deploy', 'd-8'), true);
    await second.waitForIdle(5_000);

    assert.equal(provision.calls.length, 1, 'the completed Provision state is not run again');
    assert.deepEqual(
      markLive.calls.map(({ event }) => event),
      [{ ...input('d-8'), stack: { stackId: 'checkout-staging-v0002' } }],
    );
    assert.deepEqual(
      ends.map(({ workflow, deploymentId, status }) => ({ workflow, deploymentId, status })),
      [{ workflow: 'deploy', deploymentId: 'd-8', status: 'SUCCEEDED' }],
    );
    assert.deepEqual(checkpoints(), [], 'a finished execution leaves no checkpoint');
    assert.deepEqual(await second.resumeInterrupted(), [], 'nothing is resumed twice');
  });

  it('checkpoints a state before its task runs: a process killed inside a task resumes at that task', async () => {
    const definitions = {
      deploy: {
        StartAt: 'Provision',
        States: {
          Provision: task('${ProvisionStackFunctionArn}', { ResultPath: '$.stack', Next: 'Cut over' }),
          'Cut over': task('${CutOverFunctionArn}', { ResultPath: '$.cutover', Next: 'Finish' }),
          Finish: task('${FinishDeploymentFunctionArn}', { ResultPath: '$.finish' }),
        },
      },
    };
    const stateMachinesDir = machinesDir(definitions);
    const executionsDir = join(stateMachinesDir, 'data', 'executions');
    const callsFile = join(stateMachinesDir, 'calls.log');
    // A child process runs the runner; its CutOver task blocks forever, and the test SIGKILLs it there.
    const child = spawn(process.execPath, [CRASHING_RUNNER, stateMachinesDir, executionsDir, callsFile], {
      stdio: 'ignore',
    });
    await eventually(() => existsSync(callsFile) && readFileSync(callsFile, 'utf8').includes('CutOver'));
    child.kill('SIGKILL');
    await once(child, 'exit');

    const calls: string[] = [];
    const handler =
      (name: string, output: object): TaskHandler =>
      async (event) => {
        calls.push(name);
        return { ...output, sawStack: (event as { stack?: unknown }).stack };
      };
    const ends: ExecutionEnd[] = [];
    const sfn = await LocalStepFunctions.create({
      stateMachinesDir,
      executionsDir,
      tasks: {
        ProvisionStack: handler('ProvisionStack', {}),
        CutOver: handler('CutOver', { switched: true }),
        FinishDeployment: handler('FinishDeployment', { status: 'succeeded' }),
      },
      onExecutionEnd: (end) => ends.push(end),
    });
    await sfn.resumeInterrupted();
    await sfn.waitForIdle(5_000);
    await sfn.shutdown();

    assert.deepEqual(
      calls,
      ['CutOver', 'FinishDeployment'],
      'Provision completed before the kill: not run again',
    );
    assert.equal(ends[0]?.status, 'SUCCEEDED');
    assert.deepEqual(ends[0]?.output, {
      ...input('d-12'),
      stack: { stackId: 'checkout-staging-v0002' },
      cutover: { switched: true, sawStack: { stackId: 'checkout-staging-v0002' } },
      finish: { status: 'succeeded', sawStack: { stackId: 'checkout-staging-v0002' } },
    });
  });

  it('waits at shutdown for the task call in flight', async (t) => {
    const entered = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    let finished = false;
    const { sfn } = await embedded(
      t,
      { deploy: { StartAt: 'Provision', States: { Provision: task('${ProvisionStackFunctionArn}') } } },
      {
        ProvisionStack: async () => {
          entered.resolve();
          await release.promise;
          finished = true;
          return {};
        },
      },
    );
    await sfn.start('deploy', input('d-11'));
    await entered.promise;

    const stopped = sfn.shutdown().then(() => finished);
    setTimeout(release.resolve, 100);

    assert.equal(await stopped, true);
  });

  it('calls no task after shutdown, even one waiting to be retried', async (t) => {
    const failed = Promise.withResolvers<void>();
    const acquire = recorder(() => {
      failed.resolve();
      throw new LeaseHeldError('checkout-staging is leased by d-0');
    });
    const { sfn, ends } = await embedded(
      t,
      {
        deploy: {
          StartAt: 'Acquire lease',
          States: {
            'Acquire lease': task('${AcquireLeaseFunctionArn}', {
              Retry: [{ ErrorEquals: ['LeaseHeldError'], IntervalSeconds: 30, MaxAttempts: 3 }],
            }),
          },
        },
      },
      { AcquireLease: acquire.handler },
    );

    await sfn.start('deploy', input('d-10'));
    await failed.promise;
    const stopping = Date.now();
    await sfn.shutdown();

    assert.ok(Date.now() - stopping < 5_000, 'shutdown does not sit out the retry interval');
    assert.equal(acquire.calls.length, 1);
    assert.deepEqual(ends, [{ workflow: 'deploy', deploymentId: 'd-10', status: 'ABORTED' }]);
  });
});
