/**
 * `npm run bench` (second part): what one deployment costs in the units AWS bills and throttles by —
 * Step Functions state transitions, Lambda task invocations and the time spent in them (and, of that, the
 * time spent waiting: near zero, waits are Wait states), and DynamoDB
 * write requests — and the AWS price they add up to (PRICES), for blue/green, a rollback and a 3-step
 * canary, counted while
 * the real deploy workflow (the ASL, the task handlers, the store on the embedded DynamoDB, processes and
 * the proxy) replaces a live stack blue/green. The API request that asks for it is counted too.
 *
 * Budget: fewer than 20 table writes for a blue/green replacement (issue 6; it took 34 before steps moved
 * into the deployment item and the cutover named the live stack in the same write as the split). Every
 * record the API shows is still written: the environment, the stacks with their statuses and instances,
 * the deployment with every step and its timestamps, the split, the audit trail. Exits 1 over budget.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Context } from 'aws-lambda';
import { ProcessCompute } from '../../functions/adapters/local/process-compute.ts';
import { ProxyTraffic } from '../../functions/adapters/local/proxy-traffic.ts';
import { LocalStepFunctions } from '../../functions/adapters/local/step-functions.ts';
import type { Actor } from '../../functions/core/actors.ts';
import { systemClock } from '../../functions/core/ports/clock.ts';
import type { Ports } from '../../functions/core/ports/index.ts';
import { putEnvironment } from '../../functions/core/requests.ts';
import type { Spec } from '../../functions/core/types.ts';
import { wirePorts } from '../../functions/shared/wiring.ts';
import { loadTaskHandlers } from '../../infra/local/entry-points.ts';
import { startTestDatabase } from '../support/database.ts';
import { sampleSpec } from '../support/specs.ts';
import { edgeTwins } from '../support/twins.ts';

export const WRITE_BUDGET = 20;

const ROOT = resolve(import.meta.dirname, '../..');
// The document client's commands reach the middleware as the DynamoDB commands they become.
const WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'BatchWriteItemCommand']);
const caller: Actor = {
  trigger: 'api',
  principal: 'arn:aws:sts::000000000000:assumed-role/kiln-team-platform/bench',
  team: 'platform',
};

interface Cost {
  transitions: number;
  invocations: number;
  /** Time spent inside task handlers: what Lambda bills, waiting included. */
  lambdaSeconds: number;
  /**
   * The part of it the handlers spent waiting (for instances to start or stop, requests to drain, ...):
   * the event loop's idle time while a handler ran. Billed, and nothing done. The embedded DynamoDB runs in
   * this process, so table calls count as work, not waiting (on AWS they would be a few ms of it).
   */
  waitingSeconds: number;
  /** Write requests, by the API request and by the workflow. */
  apiWrites: number;
  workflowWrites: number;
}

const counters = { transitions: 0, invocations: 0, writes: 0, lambdaMs: 0, waitingMs: 0 };

/** Three steps, each judged (on no traffic: "not enough data", recorded, and on). */
const CANARY: Spec['strategy'] = {
  type: 'canary',
  steps: [
    { weight: 20, bakeSeconds: 1 },
    { weight: 50, bakeSeconds: 1 },
    { weight: 100, bakeSeconds: 0 },
  ],
};

/**
 * AWS list prices (us-east-1, December 2026) the bench turns counts into: Step Functions Standard
 * $0.025 per 1,000 state transitions; Lambda $0.20 per million requests and, on arm64, $0.0000133334
 * per GB-second at the 256 MB Kiln's task functions get; DynamoDB on-demand $0.625 per million write
 * request units, a write counted as one unit (Kiln's items are under 1 KB, a deployment with its steps
 * can pass it). Reads and logs are left out.
 */
const PRICES = {
  transition: 0.025 / 1000,
  invocation: 0.2 / 1_000_000,
  gbSecond: 0.0000133334,
  taskMemoryGb: 0.25,
  write: 0.625 / 1_000_000,
};

function priceOf(cost: Cost): number {
  return (
    cost.transitions * PRICES.transition +
    cost.invocations * PRICES.invocation +
    cost.lambdaSeconds * PRICES.taskMemoryGb * PRICES.gbSecond +
    (cost.apiWrites + cost.workflowWrites) * PRICES.write
  );
}

process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
const database = await startTestDatabase();
database.documentClient.middlewareStack.add(
  (next, context) => async (args) => {
    if (WRITES.has(context.commandName ?? '')) counters.writes += 1;
    return next(args);
  },
  { step: 'initialize', name: 'countWrites' },
);
const dataDir = await mkdtemp(join(tmpdir(), 'kiln-bench-'));
const compute = new ProcessCompute({ artifactsDir: join(ROOT, 'infra/local/artifacts') });
const traffic = new ProxyTraffic();
const handlers = await loadTaskHandlers();
const workflows = await LocalStepFunctions.create({
  stateMachinesDir: join(ROOT, 'state-machines'),
  executionsDir: join(dataDir, 'executions'),
  tasks: Object.fromEntries(
    Object.entries(handlers).map(([name, handler]) => [
      name,
      async (event: unknown, context: Context) => {
        counters.invocations += 1;
        const started = performance.now();
        const loop = performance.eventLoopUtilization();
        try {
          return await handler(event, context);
        } finally {
          counters.lambdaMs += performance.now() - started;
          counters.waitingMs += performance.eventLoopUtilization(loop).idle;
        }
      },
    ]),
  ),
  onStateEntered: () => {
    counters.transitions += 1;
  },
});
const ports: Ports = {
  store: database.store,
  compute,
  traffic,
  workflows,
  ...edgeTwins(),
  clock: systemClock,
};
wirePorts(ports);

try {
  const results: [string, Cost][] = [
    ['first deployment (no live stack)', await deploy('bench-dev', spec('1.0.0'))],
    ['blue/green replacing a live stack', await deploy('bench-dev', spec('2.0.0'))],
    ['rolled back (never healthy)', await deploy('bench-dev', spec('3.0.0', { SAMPLE_HEALTH: 'fail' }))],
    ['3-step canary (bakes 1 s, 1 s)', await deploy('bench-dev', spec('4.0.0', {}, CANARY))],
  ];
  console.log('\nCost of one deployment (API request + deploy workflow):\n');
  console.log(
    `${'deployment'.padEnd(36)}${'transitions'.padStart(12)}${'invocations'.padStart(12)}${'Lambda s'.padStart(10)}${'waiting s'.padStart(11)}${'writes (api+workflow)'.padStart(24)}${'AWS price'.padStart(12)}`,
  );
  for (const [what, cost] of results) {
    const writes = `${cost.apiWrites + cost.workflowWrites} (${cost.apiWrites}+${cost.workflowWrites})`;
    console.log(
      `${what.padEnd(36)}${String(cost.transitions).padStart(12)}${String(cost.invocations).padStart(12)}${cost.lambdaSeconds.toFixed(2).padStart(10)}${cost.waitingSeconds.toFixed(2).padStart(11)}${writes.padStart(24)}${`$${priceOf(cost).toFixed(6)}`.padStart(12)}`,
    );
  }
  console.log(
    `\nPrices: Step Functions $${PRICES.transition * 1000} per 1,000 transitions; Lambda $0.20 per million requests + $${PRICES.gbSecond} per GB-s (arm64, ${PRICES.taskMemoryGb * 1024} MB); DynamoDB $0.625 per million writes.` +
      '\nLambda s is time inside task handlers; waiting s the part of it they spent idle, waiting on something. Every wait (instances' +
      ' starting and terminating, requests draining, health rounds, canary bakes) is a Wait state between short tasks: no Lambda is' +
      ' billed for it. Embedded instances start and stop in a moment; on AWS the same loops wait minutes, in Wait states too.',
  );
  const blueGreen = results[1]?.[1] as Cost;
  const writes = blueGreen.apiWrites + blueGreen.workflowWrites;
  console.log(`\nBudget: fewer than ${WRITE_BUDGET} table writes for a blue/green replacement: ${writes}.`);
  if (writes >= WRITE_BUDGET) process.exitCode = 1;
} finally {
  await workflows.shutdown();
  await traffic.close();
  await compute.shutdown();
  await database.close();
  await rm(dataDir, { recursive: true, force: true });
}

/** Asks for `spec` through the core's API request, then runs its workflow to the end, counting both. */
async function deploy(environment: string, wanted: Spec): Promise<Cost> {
  Object.assign(counters, { transitions: 0, invocations: 0, writes: 0, lambdaMs: 0, waitingMs: 0 });
  const accepted = await putEnvironment(ports, caller, {
    name: environment,
    team: 'platform',
    tier: 'dev',
    spec: wanted,
  });
  const apiWrites = counters.writes;
  await workflows.waitForIdle(120_000);
  const deployment = await database.store.getDeployment(environment, accepted.deploymentId as string);
  if (!deployment || !['succeeded', 'rolled_back'].includes(deployment.status)) {
    throw new Error(`deployment ended ${deployment?.status}: the bench measures completed deployments`);
  }
  return {
    transitions: counters.transitions,
    invocations: counters.invocations,
    lambdaSeconds: counters.lambdaMs / 1000,
    waitingSeconds: counters.waitingMs / 1000,
    apiWrites,
    workflowWrites: counters.writes - apiWrites,
  };
}

function spec(version: string, env: Record<string, string> = {}, strategy?: Spec['strategy']): Spec {
  return sampleSpec({
    version,
    capacity: 2,
    env,
    ...(strategy ? { strategy } : {}),
    drainSeconds: 0,
    healthCheck: {
      path: '/health',
      intervalSeconds: 1,
      healthyThreshold: 2,
      timeoutSeconds: 1,
      deadlineSeconds: 4,
    },
  });
}
