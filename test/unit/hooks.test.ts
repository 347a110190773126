import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runHook } from '../../functions/core/hooks.ts';
import { sampleSpec } from '../support/specs.ts';
import { RecordingHooks } from '../support/twins.ts';

const STACK = 'checkout-dev-v0002';

/** The traffic a hook needs: test routes, opened on demand and remembered. */
function testRoutes() {
  const opened: string[] = [];
  return {
    opened,
    testEndpoint: async (environment: string, stackId: string) => {
      opened.push(`${environment}/${stackId}`);
      return 'http://checkout-dev.apps.example.com';
    },
  };
}

describe('runHook', () => {
  it("invokes the spec's hook with the stack's test URL, the deployment and its timeout, and answers its verdict", async () => {
    const hooks = new RecordingHooks();
    hooks.verdict = { status: 'Failed', reason: 'GET /cart answered 500' };
    const traffic = testRoutes();
    const deployment = {
      id: 'd-0mx5t67x0-35fa28e792',
      environment: 'checkout-dev',
      spec: sampleSpec({ hooks: { afterTraffic: { function: 'checkout-smoke', timeoutSeconds: 45 } } }),
    };

    const result = await runHook({ traffic, hooks }, deployment, STACK, 'afterTraffic');

    assert.deepEqual(result, { status: 'Failed', reason: 'GET /cart answered 500' });
    assert.deepEqual(traffic.opened, [`checkout-dev/${STACK}`]);
    assert.deepEqual(hooks.invoked, [
      {
        fn: 'checkout-smoke',
        payload: {
          environment: 'checkout-dev',
          deploymentId: 'd-0mx5t67x0-35fa28e792',
          stackId: STACK,
          hook: 'afterTraffic',
          testUrl: 'http://checkout-dev.apps.example.com',
        },
        timeoutSeconds: 45,
      },
    ]);
  });

  it('does nothing, opening no test route, for a hook the spec does not have', async () => {
    const hooks = new RecordingHooks();
    const traffic = testRoutes();
    const spec = sampleSpec({ hooks: { afterTraffic: { function: 'checkout-smoke', timeoutSeconds: 45 } } });

    for (const deployment of [
      { id: 'd-1', environment: 'checkout-dev', spec },
      { id: 'd-2', environment: 'checkout-dev', spec: sampleSpec() },
      { id: 'd-3', environment: 'checkout-dev' },
    ]) {
      assert.equal(await runHook({ traffic, hooks }, deployment, STACK, 'beforeTraffic'), undefined);
    }
    assert.deepEqual([traffic.opened, hooks.invoked], [[], []]);
  });
});
