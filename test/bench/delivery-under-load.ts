/**
 * `npm run bench` (fifth part): zero failed requests at RATE req/s. The scenario of
 * test/e2e/delivery-under-load.test.ts (test/support/delivery-scenario.ts: blue/green, a 3-step canary, a
 * canary rolled back by its analysis, a warm rollback), run by the same function at six times the test's rate, on Kiln
 * embedded in this process (the API, the workflows and the database; the proxy and the instances are
 * processes of their own, as under `npm start`). Printed per phase, for the requests sent while its
 * deployment ran and in the AFTER_MS after it: requests, answers by the version that served them and
 * their status, failures.
 *
 * Exits 1 when a request failed (ERROR_RULE) or a phase went otherwise than it should, and when more than
 * LATE_BUDGET of the requests left over LATE_MS (steady-load.ts) after their scheduled time: the load generator shares
 * this process's event loop with Kiln, and one that fell behind would have offered less than RATE while
 * a deployment ran, so the counts would not show what they claim.
 */
import { rm } from 'node:fs/promises';

const RATE = 300;
/** The share of requests that may leave late: a few GC pauses and busy moments, not a generator behind. */
export const LATE_BUDGET = 0.01;

// Before the runtime's modules load: Powertools' logger reads its level when it is built.
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
const { DELIVERY_SCENARIO, ERROR_RULE, formatReport, runScenario, trafficMovedMs } = await import(
  '../support/delivery-scenario.ts'
);
const { startTestKilnWithEnvironment } = await import('../support/embedded-kiln.ts');

const { environment, initialVersion } = DELIVERY_SCENARIO;
console.log(`\nDeployments under steady load: ${RATE} req/s through ${environment}'s endpoint…\n`);
const { kiln, dataDir } = await startTestKilnWithEnvironment('kiln-bench-', environment, initialVersion);
try {
  const report = await runScenario(kiln, DELIVERY_SCENARIO, RATE);
  console.log(formatReport(report));
  console.log(`\nThe rule: ${ERROR_RULE}.`);
  for (const phase of report.phases.filter(({ deployment }) => deployment.trigger === 'rollback')) {
    console.log(`${phase.name}: traffic moved ${trafficMovedMs(phase.deployment)} ms after the request.`);
  }
  const late = report.late / report.sent;
  console.log(`Late requests: ${(late * 100).toFixed(2)} %; budget ${LATE_BUDGET * 100} %.`);
  if (report.violations.length > 0 || !(late <= LATE_BUDGET)) process.exitCode = 1;
} finally {
  await kiln.close();
  await rm(dataDir, { recursive: true, force: true });
}
