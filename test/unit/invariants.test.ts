import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { invariantViolations, type WorldSnapshot } from '../../functions/core/invariants.ts';
import type { Deployment, Environment, Stack, StackStatus } from '../../functions/core/types.ts';
import { sampleSpec } from '../support/specs.ts';

const AT = '2026-01-01T00:00:00.000Z';

function stack(generation: number, status: StackStatus, version = `${generation}.0.0`): Stack {
  return {
    environment: 'shop',
    stackId: `shop-v000${generation}`,
    generation,
    deploymentId: `d-${generation}`,
    spec: sampleSpec({ version, capacity: 2 }),
    status,
    instances: [],
    createdAt: AT,
    updatedAt: AT,
  };
}

function deployment(generation: number, status: Deployment['status']): Deployment {
  return {
    id: `d-${generation}`,
    environment: 'shop',
    action: 'deploy',
    generation,
    trigger: 'api',
    actor: 'alice',
    status,
    requestedAt: AT,
    toStackId: `shop-v000${generation}`,
    ...(status === 'running' || status === 'queued' ? {} : { endedAt: AT }),
  };
}

function running(...stackIds: string[]) {
  return stackIds.flatMap((stackId) => [1, 2].map((n) => ({ stackId, instanceId: `i-${stackId}-${n}` })));
}

/** v2 live after replacing v1: the state a successful blue/green deployment leaves. */
function atRest(): WorldSnapshot {
  const live = stack(2, 'live');
  const environment: Environment = {
    name: 'shop',
    team: 'platform',
    tier: 'dev',
    spec: live.spec,
    version: 3,
    generation: 2,
    status: 'live',
    liveStackId: live.stackId,
    liveGeneration: 2,
    liveSpec: live.spec,
    weights: { 'shop-v0002': 100, 'shop-v0001': 0 },
    createdAt: AT,
    updatedAt: AT,
  };
  return {
    environments: [
      {
        environment,
        stacks: [stack(1, 'decommissioned'), live],
        deployments: [deployment(2, 'succeeded'), deployment(1, 'succeeded')],
        weights: { 'shop-v0002': 100 },
      },
    ],
    runningInstances: running('shop-v0002'),
  };
}

/** A copy of the at-rest world changed by `change`. */
function world(change: (world: WorldSnapshot) => void): WorldSnapshot {
  const copy = structuredClone(atRest());
  change(copy);
  return copy;
}

const shop = (w: WorldSnapshot) => w.environments[0] as WorldSnapshot['environments'][number];

describe('invariants over recorded and running state', () => {
  it('hold for an environment at rest after a blue/green deployment', () => {
    assert.deepEqual(invariantViolations(atRest()), []);
  });

  it('hold mid-deployment: the new stack healthy at weight 0, the lease held by the running deployment', () => {
    const midway = world((w) => {
      const s = shop(w);
      s.environment.lease = { holder: 'd-3', acquiredAt: AT };
      s.environment.status = 'deploying';
      s.stacks.push(stack(3, 'healthy'));
      s.deployments.unshift(deployment(3, 'running'));
      s.weights = { 'shop-v0002': 100, 'shop-v0003': 0 };
      w.runningInstances.push(...running('shop-v0003'));
    });
    assert.deepEqual(invariantViolations(midway), []);
  });

  const broken: { rule: string; change: (w: WorldSnapshot) => void; says: RegExp }[] = [
    {
      rule: 'two versions serve at rest (the bug of issue 6)',
      change: (w) => {
        shop(w).stacks[0] = stack(1, 'live');
        shop(w).weights = { 'shop-v0001': 47, 'shop-v0002': 53 };
        w.runningInstances.push(...running('shop-v0001'));
      },
      says: /at rest it serves shop-v0001, shop-v0002, but its live stack is shop-v0002/,
    },
    {
      rule: 'the record names a live stack that traffic does not reach',
      change: (w) => {
        shop(w).weights = { 'shop-v0002': 0, 'shop-v0001': 100 };
      },
      says: /shop-v0001 gets weight 100 but is decommissioned/,
    },
    {
      rule: 'traffic reaches a stack that is not healthy yet',
      change: (w) => {
        const s = shop(w);
        s.environment.lease = { holder: 'd-3', acquiredAt: AT };
        s.stacks.push(stack(3, 'provisioning'));
        s.deployments.unshift(deployment(3, 'running'));
        s.weights = { 'shop-v0002': 50, 'shop-v0003': 50 };
        w.runningInstances.push(...running('shop-v0003'));
      },
      says: /shop-v0003 gets weight 50 but is provisioning/,
    },
    {
      rule: 'serving capacity drops below the desired capacity',
      change: (w) => {
        w.runningInstances.pop();
      },
      says: /live stack shop-v0002 runs 1 of 2 instances/,
    },
    {
      rule: 'a deployment runs without the lease',
      change: (w) => {
        shop(w).deployments.unshift(deployment(3, 'running'));
      },
      says: /deployment d-3 runs without the lease/,
    },
    {
      rule: 'two deployments run at once',
      change: (w) => {
        shop(w).environment.lease = { holder: 'd-3', acquiredAt: AT };
        shop(w).deployments.unshift(deployment(4, 'running'), deployment(3, 'running'));
      },
      says: /2 deployments run at once/,
    },
    {
      rule: 'the lease is held by a finished deployment',
      change: (w) => {
        shop(w).environment.lease = { holder: 'd-2', acquiredAt: AT };
      },
      says: /held by d-2, which ended succeeded/,
    },
    {
      rule: 'instances run for a stack no record wants (an orphan)',
      change: (w) => {
        w.runningInstances.push(...running('shop-v0009'));
      },
      says: /instance\(s\) of shop-v0009 run, but no record wants that stack/,
    },
    {
      rule: 'a decommissioned stack still has instances',
      change: (w) => {
        w.runningInstances.push(...running('shop-v0001'));
      },
      says: /stack shop-v0001 is decommissioned but 2 instance\(s\) run/,
    },
    {
      rule: 'at rest, a stack other than the live one is left half-way',
      change: (w) => {
        shop(w).stacks[0] = stack(1, 'draining');
        w.runningInstances.push(...running('shop-v0001'));
      },
      says: /at rest, stack shop-v0001 is still draining/,
    },
    {
      rule: 'the recorded split disagrees with the applied one',
      change: (w) => {
        shop(w).environment.weights = { 'shop-v0001': 100 };
      },
      says: /shop-v0002 serves at weight 100, recorded 0/,
    },
    {
      rule: 'the live stack is not marked live',
      change: (w) => {
        (shop(w).stacks[1] as Stack).status = 'healthy';
      },
      says: /its live stack shop-v0002 is healthy/,
    },
    {
      rule: 'the recorded live spec is another stack’s',
      change: (w) => {
        shop(w).environment.liveSpec = sampleSpec({ version: '9.9.9' });
      },
      says: /recorded live spec is not shop-v0002's/,
    },
  ];

  /** v1 kept warm after v2's cutover: running, at weight 0, the environment's recorded standby. */
  function withStandby(w: WorldSnapshot): void {
    shop(w).stacks[0] = stack(1, 'standby');
    shop(w).environment.standby = { stackId: 'shop-v0001', until: AT };
    shop(w).weights = { 'shop-v0002': 100, 'shop-v0001': 0 };
    shop(w).environment.weights = { 'shop-v0002': 100, 'shop-v0001': 0 };
    w.runningInstances.push(...running('shop-v0001'));
  }

  it('hold with a warm standby stack at rest', () => {
    assert.deepEqual(invariantViolations(world(withStandby)), []);
  });

  broken.push(
    {
      rule: 'a standby stack gets traffic',
      change: (w) => {
        withStandby(w);
        shop(w).weights = { 'shop-v0002': 90, 'shop-v0001': 10 };
      },
      says: /shop-v0001 gets weight 10 but is standby/,
    },
    {
      rule: 'a stack waits as standby that the environment does not name',
      change: (w) => {
        withStandby(w);
        delete shop(w).environment.standby;
      },
      says: /at rest, stack shop-v0001 is still standby/,
    },
    {
      rule: 'the environment names a standby that is not one',
      change: (w) => {
        shop(w).environment.standby = { stackId: 'shop-v0001', until: AT };
      },
      says: /its standby shop-v0001 is decommissioned/,
    },
  );

  for (const { rule, change, says } of broken) {
    it(`catch it when ${rule}`, () => {
      const violations = invariantViolations(world(change));
      assert.ok(
        violations.some((violation) => says.test(violation)),
        `expected a violation matching ${says}, got ${JSON.stringify(violations)}`,
      );
    });
  }
});
