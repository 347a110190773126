import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { assessRisk, type ChangeFacts, RISK_POLICY, type RiskPolicy } from '../../functions/core/risk.ts';
import { sampleSpec } from '../support/specs.ts';

const POLICY_FILE = resolve(import.meta.dirname, '../../policies/risk.json');
const live = sampleSpec({ version: '1.0.0', capacity: 2 });

function facts(overrides: Partial<ChangeFacts> = {}): ChangeFacts {
  return {
    environment: { tier: 'dev', liveSpec: live },
    spec: sampleSpec({ version: '2.0.0', capacity: 2 }),
    trigger: 'api',
    launches: 2,
    ...overrides,
  };
}

/** A term's points in an assessment, by its name. */
function points(assessment: ReturnType<typeof assessRisk>): Record<string, number> {
  return Object.fromEntries(assessment.terms.map((t) => [t.term, t.points]));
}

describe('change risk (policies/risk.json)', () => {
  it('holds the documented defaults: an instance 1 point, routing 25, a production data store 100, threshold 49', () => {
    assert.equal(RISK_POLICY.instance, 1);
    assert.equal(RISK_POLICY.routing, 25);
    assert.equal(RISK_POLICY.resources.datastore?.prod, 100);
    assert.equal(RISK_POLICY.threshold, 49);
  });

  it('scores a dev version change under the threshold, every term explained', () => {
    // And with its environment changed too, and twice the instances: still under it.
    const busier = assessRisk(
      RISK_POLICY,
      facts({ spec: sampleSpec({ version: '2.0.0', capacity: 4, env: { FLAG: 'on' } }), launches: 4 }),
    );
    assert.equal(busier.needsApproval, false, JSON.stringify(busier));
    const assessment = assessRisk(RISK_POLICY, facts());
    assert.deepEqual(points(assessment), {
      instances: 2,
      routing: 25,
      'tier dev': -20,
      'strategy blue-green': 10,
      'change new-artifact': 10,
    });
    assert.equal(assessment.score, 27);
    assert.equal(assessment.needsApproval, false);
    assert.equal(assessment.policyVersion, RISK_POLICY.version);
    assert.ok(assessment.terms.every((t) => t.why.length > 0));
  });

  it('asks for an approval for a prod change near a production data store, twice the points when critical', () => {
    const environment = {
      tier: 'prod' as const,
      liveSpec: live,
      resources: [{ kind: 'datastore', name: 'orders-db', critical: true }],
    };
    const assessment = assessRisk(RISK_POLICY, facts({ environment }));
    assert.equal(points(assessment)['resource datastore orders-db'], 200);
    assert.equal(points(assessment)['tier prod'], 20);
    assert.equal(assessment.needsApproval, true);
  });

  it('weighs the kind of change, the strategy and the size', () => {
    const envChange = assessRisk(RISK_POLICY, facts({ spec: { ...live, env: { FLAG: 'on' } } }));
    assert.deepEqual(
      Object.keys(points(envChange)).filter((t) => t.startsWith('change')),
      ['change env'],
    );
    const bigger = assessRisk(RISK_POLICY, facts({ spec: { ...live, capacity: 12 }, launches: 12 }));
    assert.equal(points(bigger).size, 10);
    assert.equal(points(bigger)['change capacity'], 5);
    const canary = sampleSpec({
      version: '2.0.0',
      strategy: { type: 'canary', steps: [{ weight: 100, bakeSeconds: 0 }] },
    });
    assert.equal(points(assessRisk(RISK_POLICY, facts({ spec: canary })))['strategy canary'], undefined);
    const healthOnly = assessRisk(RISK_POLICY, facts({ spec: { ...live, drainSeconds: 30 } }));
    assert.equal(points(healthOnly)['change other'], 5);
  });

  it('records a rollback’s score but never makes it wait: the policy approves rollbacks by itself', () => {
    const environment = {
      tier: 'prod' as const,
      liveSpec: live,
      resources: [{ kind: 'datastore', name: 'orders-db' }],
    };
    const warm = assessRisk(RISK_POLICY, facts({ environment, trigger: 'rollback', launches: 0 }));
    assert.ok(warm.score > RISK_POLICY.threshold);
    assert.equal(warm.needsApproval, false);
    assert.equal(points(warm).instances, undefined, 'a warm rollback launches nothing');
  });

  it('changes the score when the policy file changes', async () => {
    const edited = JSON.parse(await readFile(POLICY_FILE, 'utf8')) as RiskPolicy;
    assert.deepEqual(edited, RISK_POLICY, 'the bundled policy is the file');
    edited.routing = 40;
    edited.threshold = 30;
    edited.version = 'stricter';
    const before = assessRisk(RISK_POLICY, facts());
    const after = assessRisk(edited, facts());
    assert.equal(after.score - before.score, 15);
    assert.deepEqual([before.needsApproval, after.needsApproval], [false, true]);
    assert.equal(after.policyVersion, 'stricter');
  });
});
