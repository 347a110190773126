import type { Actor } from '../actors.ts';
import { isTerminal } from '../deployment-lifecycle.ts';
import { ConflictError } from '../errors.ts';
import type { UpkeepPorts } from '../ports/index.ts';
import { redeployLiveSpec } from '../requests.ts';
import { stackIdFor } from '../spec.ts';
import type { AuditEvent, Environment } from '../types.ts';

/**
 * Drift repair. A live stack with fewer healthy instances than its capacity (an instance died, was
 * terminated behind Kiln's back, or stopped answering) has drifted from what Kiln deployed. Kiln never
 * mends a stack in place: it records the drift and deploys the same spec again as a new stack, through
 * the ordinary deploy workflow (health checks, cutover, retirement of the drifted stack).
 *
 * Bounded, so that a spec that cannot stay healthy does not redeploy forever: no repair while a
 * deployment is in flight; none when the live stack is itself the result of the latest repair (it
 * drifted too: the cause is not the stack); none beyond MAX_REPAIRS_PER_HOUR. Those are recorded
 * `drift.unrepaired`, once for as long as the drift looks the same.
 */

/** At most this many repairs of one environment start within an hour. */
export const MAX_REPAIRS_PER_HOUR = 3;
const HOUR_MS = 3_600_000;
/** Repairs are found among the newest deployments; more than this many in an hour are refused anyway. */
const REPAIR_LOOKBACK = 20;

/** Kiln acting on its own: every repair and drift record carries it. */
export const DRIFT_REPAIRER: Actor = { trigger: 'drift-repair', principal: 'kiln' };

export interface Drift {
  environment: string;
  stackId: string;
  healthy: number;
  capacity: number;
}

export interface DriftReport {
  /** Live environments whose stack was checked. */
  checked: number;
  repaired: (Drift & { deploymentId: string })[];
  unrepaired: (Drift & { reason: string })[];
  /** Left alone: a deployment is in flight. */
  skipped: { environment: string; reason: string }[];
  failed: { environment: string; error: string }[];
}

/**
 * Checks every live environment (the store's live index, never a scan) once: probes its live stack and,
 * when fewer instances are healthy than its capacity, records `drift.detected` and starts a repair
 * (trigger `drift-repair`, actor `kiln`) or records why not (`drift.unrepaired`). An environment that
 * fails is reported; the others go on.
 */
export async function repairDrift(
  ports: UpkeepPorts,
  options: { maxRepairsPerHour?: number } = {},
): Promise<DriftReport> {
  const report: DriftReport = { checked: 0, repaired: [], unrepaired: [], skipped: [], failed: [] };
  const maxRepairs = options.maxRepairsPerHour ?? MAX_REPAIRS_PER_HOUR;
  for (const environment of await ports.store.listLiveEnvironments()) {
    try {
      await checkEnvironment(ports, environment, maxRepairs, report);
    } catch (error) {
      const { name, message } = error as Error;
      report.failed.push({ environment: environment.name, error: `${name}: ${message}` });
    }
  }
  return report;
}

async function checkEnvironment(
  ports: UpkeepPorts,
  environment: Environment,
  maxRepairs: number,
  report: DriftReport,
): Promise<void> {
  const { name, liveStackId, liveGeneration, liveSpec } = environment;
  if (!liveStackId || liveGeneration === undefined || !liveSpec) return;
  const inFlight = await deploymentInFlight(ports, environment);
  if (inFlight) {
    report.skipped.push({ environment: name, reason: inFlight });
    return;
  }
  report.checked += 1;
  const targets = await ports.traffic.probeHealth(name, liveStackId);
  const healthy = targets.filter((target) => target.healthy).length;
  const drift: Drift = { environment: name, stackId: liveStackId, healthy, capacity: liveSpec.capacity };
  if (healthy >= drift.capacity) return;
  const observed = `${healthy} of ${drift.capacity} instances of ${liveStackId} healthy`;
  const detected = driftEvent(ports, drift, 'drift.detected', {
    unhealthy: targets
      .filter((target) => !target.healthy)
      .map((target) => `${target.instanceId}: ${target.reason ?? 'unhealthy'}`),
  });

  const refusal = await whyNotRepair(ports, environment, maxRepairs);
  if (refusal !== undefined) {
    report.unrepaired.push({ ...drift, reason: refusal });
    // Recorded once for as long as the drift looks the same: the stack keeps it as its status reason.
    const statusReason = `drifted: ${observed}; not repaired: ${refusal}`;
    const stack = await ports.store.getStack(name, liveGeneration);
    if (stack?.statusReason === statusReason) return;
    await ports.store.appendAudit(detected);
    await ports.store.appendAudit({ ...driftEvent(ports, drift, 'drift.unrepaired', {}), reason: refusal });
    await ports.store.updateStack(name, liveGeneration, { statusReason, updatedAt: detected.at });
    return;
  }
  await ports.store.appendAudit(detected);
  try {
    const accepted = await redeployLiveSpec(ports, DRIFT_REPAIRER, name, `drift repair: ${observed}`);
    report.repaired.push({ ...drift, deploymentId: accepted.deploymentId ?? '' });
  } catch (error) {
    // Someone deployed meanwhile: that deployment replaces the drifted stack anyway.
    if (!(error instanceof ConflictError)) throw error;
    report.skipped.push({ environment: name, reason: error.message });
  }
}

/** Why a deployment counts as in flight (the lease is held, or the latest one has not ended); else undefined. */
async function deploymentInFlight(ports: UpkeepPorts, environment: Environment): Promise<string | undefined> {
  if (environment.lease) return `deployment ${environment.lease.holder} holds the lease`;
  if (!environment.latestDeploymentId) return undefined;
  const latest = await ports.store.getDeployment(environment.name, environment.latestDeploymentId);
  return latest && !isTerminal(latest.status) ? `deployment ${latest.id} is ${latest.status}` : undefined;
}

/** Why the drift must not be repaired now (a repair loop, too many repairs); undefined when it may be. */
async function whyNotRepair(
  ports: UpkeepPorts,
  environment: Environment,
  maxRepairs: number,
): Promise<string | undefined> {
  const repairs = (await ports.store.listDeployments(environment.name, REPAIR_LOOKBACK)).filter(
    (deployment) => deployment.trigger === 'drift-repair' && deployment.action === 'deploy',
  );
  const latest = repairs[0];
  if (
    latest &&
    (latest.toStackId ?? stackIdFor(environment.name, latest.generation)) === environment.liveStackId
  ) {
    return `${environment.liveStackId} is the stack repair ${latest.id} made, and it drifted too`;
  }
  const since = ports.clock.now().getTime() - HOUR_MS;
  const recent = repairs.filter((deployment) => Date.parse(deployment.requestedAt) > since).length;
  if (recent >= maxRepairs) return `${recent} repairs started within the last hour (at most ${maxRepairs})`;
  return undefined;
}

/** A drift record; each observation is an event of its own, so its id carries the time it was observed. */
function driftEvent(
  ports: Pick<UpkeepPorts, 'clock'>,
  drift: Drift,
  action: 'drift.detected' | 'drift.unrepaired',
  detail: Record<string, unknown>,
): AuditEvent {
  const at = ports.clock.now().toISOString();
  return {
    id: `${action}:${drift.stackId}:${at}`,
    environment: drift.environment,
    at,
    actor: DRIFT_REPAIRER.principal,
    trigger: DRIFT_REPAIRER.trigger,
    action,
    detail: { stackId: drift.stackId, healthy: drift.healthy, capacity: drift.capacity, ...detail },
  };
}
