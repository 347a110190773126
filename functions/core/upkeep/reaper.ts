import type { StackPorts } from '../ports/index.ts';
import { environmentOfStack } from '../spec.ts';
import type { AuditEvent } from '../types.ts';
import { whyStackIsUnwanted } from '../wanted-stacks.ts';

/**
 * The orphan reaper (DESIGN rule 4: nothing is orphaned). Everything Kiln creates carries its tags
 * (instances: the stack; target groups: the environment and stack; listener rules: the environment;
 * embedded, the same identities in each process's environment and in the proxy). The reaper lists what
 * carries them, holds it against what the store says should exist, and removes the rest through the
 * ports' ordinary removal paths (terminateStack, finishDrain, removeEndpoint), which are idempotent, so a
 * reaper racing a decommission, or running twice, changes nothing more.
 */

/**
 * How long instances are left alone however unwanted their stack looks: a launch may not be recorded
 * yet (a deployment launches before it records the stack), and clocks and reads are not instantaneous.
 * Ten minutes is far beyond the few seconds between a launch and its record, and far below what an
 * orphan would cost if left for long.
 */
export const ORPHAN_GRACE_MS = 10 * 60_000;

/** What the reaper removed: one stack's instances and targets, or an environment's entry point. */
export interface Reaped {
  /** The environment it belonged to, when known (where the removal is recorded). */
  environment?: string;
  /** The stack, for a stack's resources; absent for an entry point. */
  stackId?: string;
  /** Instances terminated (ids). */
  instanceIds: string[];
  /** Target registrations removed: the environment each stack was registered in; or the entry point's. */
  trafficIn: string[];
  /** Why no record wants it. */
  reason: string;
}

export interface ReapReport {
  reaped: Reaped[];
  /** Unwanted stacks left for now: launched within the grace period, or at a time compute cannot tell. */
  spared: { stackId: string; launchedAt?: string }[];
  /** Removals that failed (retried at the next run), with the error's message. */
  failed: { resource: string; error: string }[];
}

/** Who reaps: Kiln itself, on its schedule. */
const REAPER = { actor: 'kiln', trigger: 'schedule' } as const;

/**
 * Lists what carries Kiln's tags, and removes what no record wants: a stack's instances and target
 * registrations (unless its instances were launched within `graceMs`), and the entry point of an
 * environment that no longer exists (unless a spared stack is registered behind it). Each removal is recorded as an `orphan.reaped` audit event on its environment. A removal that
 * fails is reported and left for the next run; the others go ahead.
 */
export async function reapOrphans(
  ports: StackPorts,
  options: { graceMs?: number } = {},
): Promise<ReapReport> {
  const { store, compute, traffic, clock } = ports;
  const graceMs = options.graceMs ?? ORPHAN_GRACE_MS;
  const [tagged, registrations] = await Promise.all([
    compute.listTaggedStacks(),
    traffic.listRegistrations(),
  ]);
  const report: ReapReport = { reaped: [], spared: [], failed: [] };

  /** Every stack found anywhere: its instances, when the newest was launched, where it has targets. */
  const stacks = new Map<string, { instanceIds: string[]; launchedAt?: string; trafficIn: string[] }>();
  const stackOf = (stackId: string) => {
    const found = stacks.get(stackId) ?? { instanceIds: [], trafficIn: [] };
    stacks.set(stackId, found);
    return found;
  };
  for (const { stackId, instances, launchedAt } of tagged) {
    Object.assign(stackOf(stackId), { instanceIds: instances.map((instance) => instance.id), launchedAt });
  }
  for (const { environment, stackIds } of registrations) {
    for (const stackId of stackIds) stackOf(stackId).trafficIn.push(environment);
  }

  const now = clock.now().getTime();
  /** Environments with a spared stack: their entry point stays while it does. */
  const sparedIn = new Set<string>();
  const removals = [...stacks].map(async ([stackId, found]) => {
    const reason = await whyStackIsUnwanted(store, stackId);
    if (reason === undefined) return;
    // Targets are registered only after the stack is recorded (ProvisionStack), so a stack without
    // instances is never a launch in progress; one with instances is, until its newest is old enough.
    const launched = found.launchedAt === undefined ? undefined : Date.parse(found.launchedAt);
    if (found.instanceIds.length > 0 && (launched === undefined || now - launched < graceMs)) {
      report.spared.push({ stackId, ...(found.launchedAt ? { launchedAt: found.launchedAt } : {}) });
      for (const environment of found.trafficIn) sparedIn.add(environment);
      return;
    }
    await attempt(report, stackId, async () => {
      if (found.instanceIds.length > 0) await compute.terminateStack(stackId);
      for (const environment of found.trafficIn)
        await traffic.finishDrain(environment, stackId, { cutOff: true });
      const environment = found.trafficIn[0] ?? environmentOfStack(stackId);
      await record(ports, report, {
        ...(environment === undefined ? {} : { environment }),
        stackId,
        instanceIds: found.instanceIds,
        trafficIn: found.trafficIn,
        reason,
      });
    });
  });
  await Promise.all(removals);

  for (const { environment, endpoint } of registrations) {
    if (!endpoint || sparedIn.has(environment)) continue;
    // Read just before the removal: an environment created or revived meanwhile keeps its endpoint.
    const reason = await whyEndpointIsUnwanted(ports, environment);
    if (reason === undefined) continue;
    await attempt(report, `the endpoint of ${environment}`, async () => {
      await traffic.removeEndpoint(environment);
      await record(ports, report, { environment, instanceIds: [], trafficIn: [environment], reason });
    });
  }
  return report;
}

/** Why no record wants the environment's entry point; undefined while its environment exists. */
async function whyEndpointIsUnwanted(ports: Pick<StackPorts, 'store'>, name: string) {
  const environment = await ports.store.getEnvironment(name);
  if (!environment) return `environment ${name} does not exist`;
  return environment.status === 'deleted' ? `environment ${name} is deleted` : undefined;
}

async function attempt(report: ReapReport, resource: string, removal: () => Promise<void>): Promise<void> {
  try {
    await removal();
  } catch (error) {
    report.failed.push({ resource, error: `${(error as Error).name}: ${(error as Error).message}` });
  }
}

/** Reports the removal and records it on its environment (a stack id Kiln did not make has none). */
async function record(ports: Pick<StackPorts, 'store' | 'clock'>, report: ReapReport, reaped: Reaped) {
  report.reaped.push(reaped);
  if (reaped.environment === undefined) return;
  const event: AuditEvent = {
    id: `orphan.reaped:${reaped.stackId ?? 'endpoint'}`,
    environment: reaped.environment,
    at: ports.clock.now().toISOString(),
    actor: REAPER.actor,
    trigger: REAPER.trigger,
    action: 'orphan.reaped',
    reason: reaped.reason,
    detail: {
      ...(reaped.stackId ? { stackId: reaped.stackId } : { endpoint: true }),
      instanceIds: reaped.instanceIds,
      trafficIn: reaped.trafficIn,
    },
  };
  await ports.store.appendAudit(event);
}
