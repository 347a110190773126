import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kiln } from '../../infra/local/runtime.ts';
import {
  DELIVERY_SCENARIO,
  ERROR_RULE,
  formatReport,
  type PhaseReport,
  runScenario,
  type ScenarioReport,
  trafficMovedMs,
} from '../support/delivery-scenario.ts';
import { startTestKilnWithEnvironment } from '../support/embedded-kiln.ts';
import { call, removeDataDir } from '../support/kiln-process.ts';
import { awaitInvariants } from '../support/real-state.ts';

const { environment, initialVersion } = DELIVERY_SCENARIO;

/**
 * Issue 10's "zero failed requests", on the embedded runtime (real sample-app processes behind the real
 * proxy, the real deploy ASL): requests flow through the environment's endpoint at 50 req/s while it is
 * taken through DELIVERY_SCENARIO's phases one after another (blue/green, a 3-step canary, a canary
 * rolled back by its analysis, a blue/green keeping the old stack warm, a warm rollback), and every answer is counted, attributed to the version that served it
 * (the sample app's body names it; the proxy's `x-kiln-stack` names the stack, whose version the API
 * records), by the phase its request was sent in. `npm run bench` runs the same at 300 req/s.
 */
describe('deployments under steady load', { timeout: 300_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;
  let report: ScenarioReport;

  before(async () => {
    ({ kiln, dataDir } = await startTestKilnWithEnvironment('kiln-delivery-', environment, initialVersion));
    report = await runScenario(kiln, DELIVERY_SCENARIO, 50);
  });
  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  function phase(name: string): PhaseReport {
    const found = report.phases.find((candidate) => candidate.name.startsWith(name));
    assert.ok(found, `phase ${name} in ${report.phases.map((candidate) => candidate.name).join(', ')}`);
    return found;
  }

  // The rule by which an answer counts as failed is ERROR_RULE: only the erring canary's own 500s, while
  // it is under judgement, are answers rather than failures; the stable version's answers never fail.
  it('fails no request, and each phase serves the versions it should', (t) => {
    t.diagnostic(`${formatReport(report)}\n\nThe rule: ${ERROR_RULE}.`);
    assert.equal(report.phases.length, DELIVERY_SCENARIO.phases.length);
    assert.deepEqual(report.violations, [], formatReport(report));
    // The erring canary did answer errors, every one of them its own: the rule was exercised.
    assert.ok(
      (phase('canary 3.0.0 → 4.0.0').during.byVersion.get('4.0.0 500') ?? 0) > 0,
      formatReport(report),
    );
  });

  it('passes a healthy canary at each judged step, on its own traffic', () => {
    const { deployment } = phase('canary 2.0.0 → 3.0.0');
    const steps = deployment.steps.map((step: { name: string }) => step.name);
    for (const name of [
      'Canary step 1: 20 %',
      'Judge step 1: 20 %',
      'Canary step 2: 50 %',
      'Judge step 2: 50 %',
      'CutOver',
    ]) {
      assert.ok(steps.includes(name), `${name} in ${steps.join(', ')}`);
    }
    const judged = deployment.steps.find((step: { name: string }) => step.name === 'Judge step 1: 20 %');
    assert.match(judged.detail, /^passed: \d+ requests, 0 errors \(0 % ≤ 5 %\), p99 \d+(\.\d+)? ms$/);
  });

  it('rolls an erring canary back at its first judged step, with the numbers that failed', async () => {
    const { deployment } = phase('canary 3.0.0 → 4.0.0');
    assert.match(
      deployment.error.message,
      /canary step 1 \(20 %\) failed its analysis: \d+ requests, \d+ errors \(\d+(\.\d+)? % > 5 %\)/,
    );
    const steps = deployment.steps.map((step: { name: string }) => step.name);
    assert.ok(!steps.includes('Canary step 2: 50 %'), 'it never reached the second step');
    assert.ok(!steps.includes('CutOver'));
    const live = (await call(kiln, 'GET', `/environments/${environment}`)).body;
    assert.equal(live.liveStack.version, '3.0.0');
    assert.equal(live.status, 'live');
  });

  it('rolls back to the warm stack in under 2 s, provisioning nothing', (t) => {
    const { deployment } = phase('warm rollback');
    const steps = deployment.steps.map((step: { name: string }) => step.name);
    assert.equal(deployment.trigger, 'rollback');
    assert.ok(!steps.includes('ProvisionStack'), steps.join(', '));
    t.diagnostic(`traffic moved ${trafficMovedMs(deployment)} ms after the request`);
    assert.ok(trafficMovedMs(deployment) < 2000, `${trafficMovedMs(deployment)} ms`);
    const kept = phase('blue/green 3.0.0 → 5.0.0').deployment;
    assert.ok(kept.steps.some((step: { name: string }) => step.name.startsWith('StandBy ')));
  });

  it('leaves what runs as the records say', async () => {
    await awaitInvariants(dataDir, [environment]);
  });
});
