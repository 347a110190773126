import type { Actor } from '../actors.ts';
import { UPKEEP_ACTIONS, UPKEEP_SHARDS } from '../idle.ts';
import type { Ports, RequestPorts } from '../ports/index.ts';
import { type UpkeepOutcome, upkeepDueEnvironment } from '../requests.ts';
import type { UpkeepDue } from '../types.ts';

/** How the idle sweep pages and paces itself. */
export interface SweepLimits {
  /** Environments handled at a time: at most this many sleeps (or wakes) are being started at once. */
  concurrency: number;
  /** Items per index query. */
  pageSize: number;
  /** No new page is read after this much time (ms): what is left is due still, and the next sweep finds it. */
  budgetMs: number;
}

/**
 * 10 at a time: starting a sleep is four writes and a workflow start, ~50 ms on AWS, so a sweep starts
 * ~200 a second and 1,000 due environments within its budget. 45 s of the handler's 60 s timeout.
 */
export const SWEEP_LIMITS: SweepLimits = { concurrency: 10, pageSize: 100, budgetMs: 45_000 };

/** What one sweep did. */
export interface SweepReport {
  /** Environments the upkeep index listed as due (each one item read). */
  due: number;
  started: { environment: string; action: UpkeepDue['action']; deploymentId: string }[];
  /** Due by the record, but requests reached them since: they stay awake. */
  active: string[];
  /** Not due after all (the index was behind): re-indexed. */
  notDue: string[];
  failed: { environment: string; error: string }[];
  /** Whether it stopped at its time budget with due environments left for the next sweep. */
  truncated: boolean;
}

/**
 * The idle sweep (a schedule, every 5 minutes): puts to sleep every live environment its idle policy says
 * is idle, wakes every sleeping one whose `wakeAt` time has come, and retires every standby stack whose
 * rollback window has ended. It finds them by querying the sparse
 * upkeep index, shard by shard, for what is due by now, never by scanning: it reads as many items as
 * environments are due. Memory stays flat: one page per shard at a time. One environment failing does not
 * stop the others; it stays due, and the next sweep tries it again.
 */
export async function sweepIdle(
  ports: RequestPorts & Pick<Ports, 'traffic'>,
  actor: Actor,
  limits: SweepLimits = SWEEP_LIMITS,
): Promise<SweepReport> {
  const started = Date.now();
  const now = ports.clock.now().toISOString();
  const report: SweepReport = { due: 0, started: [], active: [], notDue: [], failed: [], truncated: false };
  for (const action of UPKEEP_ACTIONS) {
    for (let shard = 0; shard < UPKEEP_SHARDS; shard++) {
      let after: string | undefined;
      do {
        if (Date.now() - started > limits.budgetMs) {
          report.truncated = true;
          return report;
        }
        const page = await ports.store.listUpkeepDue(action, shard, now, {
          limit: limits.pageSize,
          ...(after ? { after } : {}),
        });
        report.due += page.environments.length;
        await forEachLimited(page.environments, limits.concurrency, async (environment) => {
          try {
            record(report, environment.name, action, await upkeepDueEnvironment(ports, actor, environment));
          } catch (error) {
            report.failed.push({ environment: environment.name, error: (error as Error).message });
          }
        });
        after = page.next;
      } while (after);
    }
  }
  return report;
}

function record(report: SweepReport, name: string, action: UpkeepDue['action'], result: UpkeepOutcome): void {
  switch (result.outcome) {
    case 'started':
      report.started.push({ environment: name, action, deploymentId: result.deploymentId });
      return;
    case 'active':
      report.active.push(name);
      return;
    case 'not-due':
    case 'gone':
      report.notDue.push(name);
      return;
  }
}

/** Runs `work` over `items`, at most `limit` at a time. */
async function forEachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
