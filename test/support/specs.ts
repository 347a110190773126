import type { Spec } from '../../functions/core/types.ts';

/** A valid spec of the shipped sample app, with overrides. */
export function sampleSpec(overrides: Partial<Spec> = {}): Spec {
  return {
    artifact: 'sample-app',
    version: '1.0.0',
    capacity: 2,
    env: {},
    healthCheck: {
      path: '/health',
      intervalSeconds: 1,
      healthyThreshold: 2,
      timeoutSeconds: 1,
      deadlineSeconds: 10,
    },
    strategy: { type: 'blue-green' },
    drainSeconds: 1,
    ...overrides,
  };
}
