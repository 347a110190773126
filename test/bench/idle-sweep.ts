/**
 * `npm run bench` (fourth part): the idle sweep over a fleet. 100,000 live environments of which 1 % are
 * idle past their tier's 60 minutes, on the embedded DynamoDB, swept once by the real sweep
 * (functions/core/upkeep/sweep.ts) over the real store. Counted at the DynamoDB client: the items read
 * (Query on the sparse upkeep index; no Scan may be sent), against the environments due. Budget: items
 * read ≤ 1.1 × due, every due environment asked to sleep, and the heap the sweep keeps stays flat (bounded
 * by a page per shard, whatever the fleet's size). Workflows are recorded, not run: this measures finding
 * and starting the sleeps, and the sleeps themselves are shown in test/e2e/idle-environments.test.ts.
 * Exits 1 over budget. BENCH_FLEET sets another fleet size.
 */
import { ProxyTraffic } from '../../functions/adapters/local/proxy-traffic.ts';
import { sweepIdle } from '../../functions/core/upkeep/sweep.ts';
import { startTestDatabase } from '../support/database.ts';
import { countReads, RecordingWorkflows, seedFleet } from '../support/upkeep-fleet.ts';

export const READ_RATIO_BUDGET = 1.1;
/**
 * The heap a sweep may keep, whatever the fleet (measured after a full garbage collection, so run with
 * --expose-gc): it reads pages of 100 environments, a few at a time, and keeps none of them. What it keeps
 * is the records of the sleeps it started (in the embedded DynamoDB, in this process) and their list.
 */
export const HEAP_BUDGET_MB = 64;

/** A full collection, so that heap figures count what is kept rather than garbage not yet collected. */
function collectGarbage(): void {
  if (!global.gc) throw new Error('run the idle sweep bench with node --expose-gc');
  global.gc();
}

const fleet = Number(process.env.BENCH_FLEET ?? 100_000);
const dueCount = fleet / 100;
const now = new Date();
const db = await startTestDatabase();
const traffic = new ProxyTraffic();
try {
  const seeding = performance.now();
  const due = await seedFleet(db.store, { count: fleet, due: dueCount, now, concurrency: 64 });
  const seeded = (performance.now() - seeding) / 1000;

  const workflows = new RecordingWorkflows();
  const counter = countReads(db.documentClient);
  collectGarbage();
  const heapBefore = process.memoryUsage().heapUsed;
  let heapPeak = heapBefore;
  const sampler = setInterval(() => {
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  }, 5);
  const started = performance.now();
  const report = await sweepIdle(
    {
      store: db.store,
      workflows,
      events: { publish: async () => undefined },
      traffic,
      clock: { now: () => now },
    },
    {
      trigger: 'schedule',
      principal: 'kiln-idle-sweep',
      schedule: { name: 'kiln-idle-sweep', scheduledAt: now.toISOString() },
    },
  );
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  counter.stop();
  collectGarbage();
  const retainedMb = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;

  const ratio = counter.itemsRead / due.length;
  const heapMb = (heapPeak - heapBefore) / 2 ** 20;
  const scans = counter.commands.get('ScanCommand') ?? 0;
  console.log(
    `\nIdle sweep over ${fleet.toLocaleString('en')} environments (${due.length.toLocaleString('en')} due; seeded in ${seeded.toFixed(0)} s)`,
  );
  console.table({
    'environments due': due.length,
    'found due by the sweep': report.due,
    'sleeps started': workflows.started.length,
    'items read': counter.itemsRead,
    'items read / due': Number(ratio.toFixed(3)),
    'Query requests': counter.commands.get('QueryCommand') ?? 0,
    'Scan requests': scans,
    'sweep duration (s)': Number(seconds.toFixed(2)),
    'sleeps started per second': Math.round(workflows.started.length / seconds),
    'heap added at peak, garbage included (MB)': Number(heapMb.toFixed(1)),
    'heap kept after the sweep (MB)': Number(retainedMb.toFixed(1)),
  });
  const problems = [
    ...(ratio > READ_RATIO_BUDGET
      ? [`read ${ratio.toFixed(2)} items per environment due (budget ${READ_RATIO_BUDGET})`]
      : []),
    ...(scans > 0 ? [`sent ${scans} Scan requests`] : []),
    ...(workflows.started.length !== due.length
      ? [`started ${workflows.started.length} sleeps for ${due.length} due`]
      : []),
    ...(report.failed.length > 0 ? [`${report.failed.length} failed: ${report.failed[0]?.error}`] : []),
    ...(retainedMb > HEAP_BUDGET_MB
      ? [`the sweep kept ${retainedMb.toFixed(0)} MB of heap (budget ${HEAP_BUDGET_MB})`]
      : []),
  ];
  if (problems.length > 0) {
    console.error(`idle sweep over budget: ${problems.join('; ')}`);
    process.exitCode = 1;
  }
} finally {
  await traffic.close();
  await db.close();
}
