import type { TrafficWeights } from './blue-green.ts';
import { isTerminal } from './deployment-lifecycle.ts';
import type { StateStore } from './ports/state-store.ts';
import type { Traffic } from './ports/traffic.ts';
import { specsEqual, stackIdFor } from './spec.ts';
import type { Deployment, Environment, Stack } from './types.ts';
import { RUNNING_STACK_STATUSES } from './wanted-stacks.ts';

/**
 * DESIGN's "rules that hold whatever fails", as an executable check over what is recorded and what
 * actually runs and serves. Tests run it after every fault they inject; it reads, never writes.
 */

/** An environment as recorded, with the traffic split its entry point actually applies. */
export interface EnvironmentSnapshot {
  environment: Environment;
  stacks: Stack[];
  /** Its recent deployments (every unfinished one among them). */
  deployments: Deployment[];
  /** Stack id → weight, as the traffic layer applies it (registered stacks only). */
  weights: TrafficWeights;
}

/** What is recorded and what really runs, taken at one moment. */
export interface WorldSnapshot {
  environments: EnvironmentSnapshot[];
  /** Every instance that actually runs (a process, an EC2 instance), by the stack it carries. */
  runningInstances: { stackId: string; instanceId: string }[];
}

/** Every rule the snapshot breaks, in words; empty when all hold. */
export function invariantViolations(world: WorldSnapshot): string[] {
  const violations: string[] = [];
  const byStack = Map.groupBy(world.runningInstances, (instance) => instance.stackId);
  const running = (stackId: string) => byStack.get(stackId)?.length ?? 0;
  const wanted = new Set<string>();
  for (const snapshot of world.environments) {
    const problems = environmentViolations(snapshot, running);
    violations.push(...problems.map((problem) => `${snapshot.environment.name}: ${problem}`));
    for (const stack of snapshot.stacks) {
      if (RUNNING_STACK_STATUSES.includes(stack.status)) wanted.add(stack.stackId);
    }
    for (const deployment of snapshot.deployments) {
      if (!isTerminal(deployment.status) && deployment.action === 'deploy') {
        wanted.add(deployment.toStackId ?? stackIdFor(deployment.environment, deployment.generation));
      }
    }
  }
  // Rule 4: nothing orphaned.
  for (const [stackId, instances] of byStack) {
    if (!wanted.has(stackId)) {
      violations.push(
        `${instances.length} instance(s) of ${stackId} run, but no record wants that stack: ${instances.map((i) => i.instanceId).join(', ')}`,
      );
    }
  }
  return violations;
}

function environmentViolations(
  { environment, stacks, deployments, weights }: EnvironmentSnapshot,
  running: (stackId: string) => number,
): string[] {
  const problems: string[] = [];
  const stackOf = new Map(stacks.map((stack) => [stack.stackId, stack]));
  const inFlight = deployments.filter((d) => d.status === 'running');
  const holder = environment.lease?.holder;
  const weighted = Object.entries(weights).filter(([, weight]) => weight > 0);

  // Rule 2: one deployment at a time, bound to the lease.
  if (inFlight.length > 1)
    problems.push(`${inFlight.length} deployments run at once: ${inFlight.map((d) => d.id).join(', ')}`);
  if (holder === undefined && inFlight.length > 0)
    problems.push(`deployment ${inFlight[0]?.id} runs without the lease`);
  if (holder !== undefined) {
    const holding = deployments.find((d) => d.id === holder);
    if (holding && isTerminal(holding.status))
      problems.push(`the lease is held by ${holder}, which ended ${holding.status}`);
    for (const other of inFlight)
      if (other.id !== holder) problems.push(`deployment ${other.id} runs while ${holder} holds the lease`);
  }
  for (const deployment of deployments) {
    if (isTerminal(deployment.status) && !deployment.endedAt)
      problems.push(`deployment ${deployment.id} ended ${deployment.status} without an end time`);
  }

  // The live stack is what the environment says it is, and runs at capacity.
  if (environment.liveStackId !== undefined) {
    const live = stackOf.get(environment.liveStackId);
    if (!live) problems.push(`its live stack ${environment.liveStackId} has no record`);
    else {
      if (live.status !== 'live') problems.push(`its live stack ${live.stackId} is ${live.status}`);
      if (!specsEqual(live.spec, environment.liveSpec))
        problems.push(`its recorded live spec is not ${live.stackId}'s`);
      if (running(live.stackId) < live.spec.capacity) {
        problems.push(
          `its live stack ${live.stackId} runs ${running(live.stackId)} of ${live.spec.capacity} instances`,
        );
      }
    }
  }

  // Rule 1: traffic only ever reaches healthy stacks, and never drops below the desired capacity.
  for (const [stackId, weight] of weighted) {
    const stack = stackOf.get(stackId);
    if (!stack || (stack.status !== 'healthy' && stack.status !== 'live')) {
      problems.push(`${stackId} gets weight ${weight} but is ${stack?.status ?? 'unrecorded'}`);
    } else if (running(stackId) < stack.spec.capacity) {
      problems.push(
        `${stackId} gets weight ${weight} with ${running(stackId)} of ${stack.spec.capacity} instances`,
      );
    }
  }
  const total = weighted.reduce((sum, [, weight]) => sum + weight, 0);
  if (environment.liveStackId !== undefined && environment.status !== 'deleted' && total !== 100) {
    problems.push(`serves ${total}% of its traffic: the split is ${JSON.stringify(weights)}`);
  }

  // At rest (no deployment holds the lease), exactly one version serves and the record says which.
  if (holder === undefined) {
    const expected =
      environment.liveStackId && environment.status !== 'deleted' ? [environment.liveStackId] : [];
    const serving = weighted.map(([stackId]) => stackId);
    if (JSON.stringify(serving) !== JSON.stringify(expected)) {
      problems.push(
        `at rest it serves ${serving.join(', ') || 'nothing'}, but its live stack is ${expected[0] ?? 'none'}`,
      );
    }
    for (const [stackId, weight] of Object.entries(weights)) {
      if ((environment.weights?.[stackId] ?? 0) !== weight) {
        problems.push(
          `${stackId} serves at weight ${weight}, recorded ${environment.weights?.[stackId] ?? 0}`,
        );
      }
    }
    // Besides the live stack, only the recorded standby runs (at weight 0, checked above), and only as such.
    const standbyId = environment.standby?.stackId;
    for (const stack of stacks) {
      if (stack.stackId === environment.liveStackId || !RUNNING_STACK_STATUSES.includes(stack.status))
        continue;
      if (stack.stackId !== standbyId || stack.status !== 'standby') {
        problems.push(`at rest, stack ${stack.stackId} is still ${stack.status}`);
      }
    }
    if (standbyId !== undefined && stackOf.get(standbyId)?.status !== 'standby') {
      problems.push(`its standby ${standbyId} is ${stackOf.get(standbyId)?.status ?? 'unrecorded'}`);
    }
  }

  // Ended stacks hold neither compute nor traffic.
  for (const stack of stacks) {
    if (RUNNING_STACK_STATUSES.includes(stack.status)) continue;
    if (running(stack.stackId) > 0)
      problems.push(
        `stack ${stack.stackId} is ${stack.status} but ${running(stack.stackId)} instance(s) run`,
      );
    if ((weights[stack.stackId] ?? 0) > 0)
      problems.push(`stack ${stack.stackId} is ${stack.status} but gets traffic`);
  }
  return problems;
}

/**
 * Takes the snapshot through the ports: records from the store, the applied split from the traffic
 * layer, and what runs from `runningInstances` (compute-specific: a process scan embedded).
 */
export async function takeSnapshot(
  ports: {
    store: Pick<StateStore, 'getEnvironment' | 'listStacks' | 'listDeployments'>;
    traffic: Pick<Traffic, 'getWeights'>;
  },
  environmentNames: readonly string[],
  runningInstances: () => Promise<WorldSnapshot['runningInstances']>,
): Promise<WorldSnapshot> {
  const environments = await Promise.all(
    environmentNames.map(async (name): Promise<EnvironmentSnapshot | undefined> => {
      const environment = await ports.store.getEnvironment(name);
      if (!environment) return undefined;
      const [stacks, deployments, weights] = await Promise.all([
        ports.store.listStacks(name),
        ports.store.listDeployments(name, 100),
        ports.traffic.getWeights(name),
      ]);
      return { environment, stacks, deployments, weights };
    }),
  );
  return {
    environments: environments.filter((snapshot) => snapshot !== undefined),
    runningInstances: await runningInstances(),
  };
}
