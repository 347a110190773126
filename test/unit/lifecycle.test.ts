import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertDeploymentTransition, isTerminal } from '../../functions/core/deployment-lifecycle.ts';
import { InvalidTransitionError } from '../../functions/core/errors.ts';
import { assertStackTransition, canTransitionStack } from '../../functions/core/stack-lifecycle.ts';
import type { StackStatus } from '../../functions/core/types.ts';

describe('stack lifecycle', () => {
  it('follows provisioning → healthy → live → draining → decommissioned', () => {
    const path: StackStatus[] = ['provisioning', 'healthy', 'live', 'draining', 'decommissioned'];
    for (let i = 1; i < path.length; i++) {
      assert.ok(canTransitionStack(path[i - 1] as StackStatus, path[i] as StackStatus));
    }
  });

  it('never brings a decommissioned or failed stack back', () => {
    for (const to of ['provisioning', 'healthy', 'live', 'draining'] as const) {
      assert.throws(() => assertStackTransition('s', 'decommissioned', to), InvalidTransitionError);
      assert.throws(() => assertStackTransition('s', 'failed', to), InvalidTransitionError);
    }
  });

  it('does not let a live stack be failed or decommissioned without draining first', () => {
    assert.throws(() => assertStackTransition('s', 'live', 'failed'), InvalidTransitionError);
    assert.throws(() => assertStackTransition('s', 'live', 'decommissioned'), InvalidTransitionError);
  });

  it('lets a replaced live stack wait warm (standby), then go live again (a rollback) or drain, nothing else', () => {
    assert.ok(canTransitionStack('live', 'standby'));
    assert.ok(canTransitionStack('standby', 'live'));
    assert.ok(canTransitionStack('standby', 'draining'));
    for (const to of ['provisioning', 'healthy', 'decommissioned', 'failed'] as const) {
      assert.throws(() => assertStackTransition('s', 'standby', to), InvalidTransitionError);
    }
    assert.throws(() => assertStackTransition('s', 'healthy', 'standby'), InvalidTransitionError);
  });

  it('lets a retried task repeat the status it already reached', () => {
    assert.doesNotThrow(() => assertStackTransition('s', 'live', 'live'));
  });

  it('does not let a stack that never became healthy take traffic', () => {
    assert.throws(() => assertStackTransition('s', 'provisioning', 'live'), InvalidTransitionError);
  });
});

describe('deployment lifecycle', () => {
  it('only a queued deployment can be superseded', () => {
    assert.doesNotThrow(() => assertDeploymentTransition('d', 'queued', 'superseded'));
    assert.throws(() => assertDeploymentTransition('d', 'running', 'superseded'), InvalidTransitionError);
  });

  it('outcomes are terminal', () => {
    for (const status of ['succeeded', 'rolled_back', 'failed', 'superseded', 'cancelled'] as const) {
      assert.ok(isTerminal(status));
    }
    assert.ok(!isTerminal('queued'));
    assert.ok(!isTerminal('running'));
  });
});
