import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { describeCaught } from '../../functions/core/deployment/finish.ts';
import type { ValidationError } from '../../functions/core/errors.ts';
import { deploymentNeeded } from '../../functions/core/requests.ts';
import type { Deployment, Environment } from '../../functions/core/types.ts';
import { putEnvironmentBody } from '../../functions/shared/environment-schemas.ts';
import { httpStatusOf, parseBody } from '../../functions/shared/http.ts';
import { sampleSpec } from '../support/specs.ts';

describe('desired state decides deployments', () => {
  const base: Environment = {
    name: 'e',
    team: 't',
    tier: 'dev',
    spec: sampleSpec(),
    version: 3,
    generation: 2,
    status: 'live',
    liveSpec: sampleSpec(),
    createdAt: '',
    updatedAt: '',
  };
  const inFlight = (version: string): Deployment => ({
    id: 'd',
    environment: 'e',
    action: 'deploy',
    generation: 3,
    trigger: 'api',
    actor: 'a',
    status: 'running',
    spec: sampleSpec({ version }),
    requestedAt: '',
  });

  it('does nothing when the spec is already live and nothing is in flight', () => {
    assert.equal(deploymentNeeded(base, sampleSpec(), undefined), false);
  });

  it('deploys a spec that differs from what is live', () => {
    assert.equal(deploymentNeeded(base, sampleSpec({ version: '2' }), undefined), true);
  });

  it('does not start a second deployment toward a spec already in flight', () => {
    assert.equal(deploymentNeeded(base, sampleSpec({ version: '2' }), inFlight('2')), false);
  });

  it('deploys back to the live spec when a different one is in flight', () => {
    assert.equal(deploymentNeeded(base, sampleSpec(), inFlight('2')), true);
  });
});

describe('PUT body validation', () => {
  const valid = {
    team: 'platform',
    tier: 'dev',
    spec: {
      artifact: 'sample-app',
      version: '1.0.0',
      capacity: 2,
      healthCheck: { path: '/health', intervalSeconds: 2, healthyThreshold: 2, timeoutSeconds: 1 },
      strategy: { type: 'blue-green' },
    },
  };

  it('accepts the documented body and fills documented defaults', () => {
    const parsed = putEnvironmentBody.parse(valid);
    assert.deepEqual(parsed.spec.env, {});
    assert.equal(parsed.spec.drainSeconds, 10);
    assert.equal(parsed.spec.healthCheck.deadlineSeconds, 120);
  });

  it('names every wrong field', () => {
    const result = putEnvironmentBody.safeParse({
      ...valid,
      tier: 'qa',
      spec: {
        ...valid.spec,
        capacity: 0,
        healthCheck: { ...valid.spec.healthCheck, timeoutSeconds: 5 },
        extra: 1,
      },
    });
    assert.equal(result.success, false);
    const paths = result.error?.issues.map((i) => i.path.join('.')) ?? [];
    assert.ok(paths.includes('tier'));
    assert.ok(paths.includes('spec.capacity'));
    assert.ok(paths.includes('spec') || paths.includes('spec.extra'), `unknown key reported: ${paths}`);
  });

  it('refuses instance variables that change how the host runs the instance, naming each', () => {
    const result = putEnvironmentBody.safeParse({
      ...valid,
      spec: {
        ...valid.spec,
        env: { NODE_OPTIONS: '--require /tmp/x.js', GREETING: 'hi', ld_preload: '/tmp/x.so' },
      },
    });
    assert.equal(result.success, false);
    assert.deepEqual(
      result.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [['spec.env', 'NODE_OPTIONS, ld_preload are reserved: they change how the host runs the instance']],
    );
  });

  it('refuses a single reserved variable in the singular', () => {
    const result = putEnvironmentBody.safeParse({ ...valid, spec: { ...valid.spec, env: { PORT: '80' } } });
    assert.deepEqual(
      result.error?.issues.map((i) => i.message),
      ['PORT is reserved: it changes how the host runs the instance'],
    );
  });

  it('accepts the variables applications set for themselves', () => {
    const parsed = putEnvironmentBody.parse({
      ...valid,
      spec: { ...valid.spec, env: { DATABASE_URL: 'x', API_TOKEN: 'y' } },
    });
    assert.deepEqual(parsed.spec.env, { DATABASE_URL: 'x', API_TOKEN: 'y' });
  });

  it('rejects a health timeout longer than its interval', () => {
    const result = putEnvironmentBody.safeParse({
      ...valid,
      spec: { ...valid.spec, healthCheck: { ...valid.spec.healthCheck, timeoutSeconds: 5 } },
    });
    assert.deepEqual(
      result.error?.issues.map((i) => i.path.join('.')),
      ['spec.healthCheck.timeoutSeconds'],
    );
  });

  describe('verification hooks in the spec', () => {
    const withHooks = (hooks: unknown) =>
      putEnvironmentBody.safeParse({ ...valid, spec: { ...valid.spec, hooks } });
    const problems = (hooks: unknown) =>
      withHooks(hooks).error?.issues.map((issue) => [issue.path.join('.'), issue.message]) ?? [];

    it('has no hooks unless asked, and gives a hook a 60 s timeout unless told', () => {
      assert.equal(putEnvironmentBody.parse(valid).spec.hooks, undefined);
      assert.deepEqual(withHooks({ beforeTraffic: { function: 'checkout-smoke' } }).data?.spec.hooks, {
        beforeTraffic: { function: 'checkout-smoke', timeoutSeconds: 60 },
      });
    });

    for (const name of [
      'a',
      'checkout_smoke-test-2',
      'x'.repeat(64),
      'arn:aws:lambda:eu-west-1:123456789012:function:checkout-smoke',
      'arn:aws:lambda:eu-west-1:123456789012:function:checkout-smoke:live',
      'arn:aws:lambda:us-gov-west-1:123456789012:function:smoke:$LATEST',
      'arn:aws-cn:lambda:cn-north-1:123456789012:function:smoke:7',
    ]) {
      it(`accepts the function ${name.length > 40 ? `${name.slice(0, 40)}…` : name}`, () => {
        assert.equal(withHooks({ afterTraffic: { function: name, timeoutSeconds: 840 } }).success, true);
      });
    }

    for (const name of [
      '',
      'x'.repeat(65),
      'smoke test',
      'smoke.test',
      '../smoke',
      'arn:aws:lambda:eu-west-1:123456789012:function:',
      'arn:aws:lambda:eu-west-1:12345:function:smoke',
      'arn:aws:lambda:eu-west-1:123456789012:layer:smoke',
      'arn:aws:s3:::bucket',
      '123456789012:function:smoke',
    ]) {
      it(`refuses the function ${JSON.stringify(name.slice(0, 50))}, saying what a function must be`, () => {
        const [[path, message] = []] = problems({ beforeTraffic: { function: name } });
        assert.equal(path, 'spec.hooks.beforeTraffic.function');
        assert.match(message ?? '', /must be a Lambda function name .* or a function ARN/);
      });
    }

    it('refuses timeouts outside 1-840 s, unknown hooks and unknown hook fields', () => {
      assert.deepEqual(
        problems({
          beforeTraffic: { function: 'smoke', timeoutSeconds: 0 },
          afterTraffic: { function: 'smoke', timeoutSeconds: 841, payload: {} },
          duringTraffic: { function: 'smoke' },
        }).map(([path]) => path),
        [
          'spec.hooks.beforeTraffic.timeoutSeconds',
          'spec.hooks.afterTraffic.timeoutSeconds',
          'spec.hooks.afterTraffic',
          'spec.hooks',
        ],
      );
      assert.equal(withHooks({ afterTraffic: { function: 'smoke', timeoutSeconds: 1.5 } }).success, false);
    });
  });
});

describe('caught workflow errors', () => {
  it('reads the message out of a Lambda error cause', () => {
    const cause = JSON.stringify({
      errorType: 'StackNotHealthyError',
      errorMessage: 'stack e-v0002 was not healthy',
    });
    assert.deepEqual(describeCaught({ Error: 'StackNotHealthyError', Cause: cause }), {
      name: 'StackNotHealthyError',
      message: 'stack e-v0002 was not healthy',
    });
  });

  it('keeps a plain-text cause as it is', () => {
    assert.equal(describeCaught({ Error: 'X', Cause: 'boom' }).message, 'boom');
  });
});

describe('health check paths stay on the instance', () => {
  const INSTANCE = 'http://127.0.0.1:1234';
  const withPath = (path: string) => ({
    team: 'platform',
    tier: 'dev',
    spec: {
      artifact: 'sample-app',
      version: '1.0.0',
      capacity: 1,
      healthCheck: { path, intervalSeconds: 2, healthyThreshold: 2, timeoutSeconds: 1 },
    },
  });
  const accepts = (path: string) => putEnvironmentBody.safeParse(withPath(path)).success;
  /** What a probe does with the path: resolve it against the instance, or append it to the instance. */
  const staysOnInstance = (path: string) =>
    new URL(path, INSTANCE).origin === INSTANCE && new URL(`${INSTANCE}${path}`).origin === INSTANCE;

  for (const path of [
    '//127.0.0.1:39999/x',
    '/\\127.0.0.1:39999/x',
    '/\\/127.0.0.1:39999/x',
    'http://x/',
    'health',
    '',
    '/health#fragment',
    '/he alth',
    '/\t/127.0.0.1:39999/x',
    '/health\n',
    '/héalth',
  ]) {
    it(`refuses ${JSON.stringify(path)}, saying what a health path must be`, () => {
      const result = putEnvironmentBody.safeParse(withPath(path));
      assert.equal(result.success, false);
      const [issue] = result.error?.issues ?? [];
      assert.equal(issue?.path.join('.'), 'spec.healthCheck.path');
      assert.match(issue?.message ?? '', /path on the instance.*\/health/);
    });
  }

  for (const path of [
    '/',
    '/health',
    '/health?deep=1&x=%20',
    '/%2F%2Fhost',
    '/a/../b',
    '/@evil.example',
    '/:9999/x',
  ]) {
    it(`accepts ${path}, which stays on the instance`, () => {
      assert.equal(accepts(path), true);
      assert.equal(staysOnInstance(path), true);
    });
  }

  it('every accepted path keeps the probe on the instance (property)', () => {
    const hostile = fc.string({
      unit: fc.constantFrom(
        '/',
        '\\',
        '#',
        '?',
        '@',
        ':',
        '.',
        '%',
        '2',
        'F',
        'h',
        ' ',
        '\t',
        '\n',
        'é',
        '\u3000',
      ),
      maxLength: 12,
    });
    fc.assert(
      fc.property(
        fc.oneof(
          hostile,
          hostile.map((s) => `/${s}`),
        ),
        (path) => {
          if (accepts(path)) assert.ok(staysOnInstance(path), path);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('accepts ordinary paths with a query (property)', () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/);
    const path = fc
      .tuple(fc.array(segment, { maxLength: 5 }), fc.option(fc.stringMatching(/^[A-Za-z0-9=&%]{0,20}$/)))
      .map(([segments, query]) => `/${segments.join('/')}${query === null ? '' : `?${query}`}`);
    fc.assert(
      fc.property(path, (p) => {
        assert.ok(accepts(p), p);
        assert.ok(staysOnInstance(p), p);
      }),
    );
  });
});

describe('JSON bodies', () => {
  const event = (body: string) =>
    ({
      body,
      headers: { 'content-type': 'application/json' },
      isBase64Encoded: false,
    }) as unknown as Parameters<typeof parseBody>[0];
  const body = (env: string) =>
    `{"team":"platform","tier":"dev","spec":{"artifact":"sample-app","version":"1","capacity":1,"env":${env},` +
    `"healthCheck":{"path":"/health","intervalSeconds":2,"healthyThreshold":2,"timeoutSeconds":1}}}`;
  const refusal = (text: string) => {
    try {
      parseBody(event(text), putEnvironmentBody);
    } catch (error) {
      return error as ValidationError;
    }
    assert.fail('the body was accepted');
  };

  it('refuses __proto__ in env instead of silently dropping it', () => {
    const error = refusal(body('{"__proto__":"x","GREETING":"hi"}'));
    assert.equal(httpStatusOf(error), 400);
    assert.match(error.message, /spec\.env\.__proto__/);
    assert.deepEqual(
      error.issues.map((i) => i.path),
      ['spec.env.__proto__'],
    );
  });

  it('refuses __proto__, constructor and prototype anywhere, naming every path', () => {
    const error = refusal(
      '{"constructor":{"prototype":{}},"spec":{"healthCheck":{"__proto__":{"path":"//x"}}},"list":[{"prototype":1}]}',
    );
    assert.deepEqual(error.issues.map((i) => i.path).sort(), [
      'constructor',
      'constructor.prototype',
      'list.0.prototype',
      'spec.healthCheck.__proto__',
    ]);
    assert.match(error.message, /__proto__, constructor and prototype are not allowed as keys/);
  });

  it('checks deeply nested bodies without exhausting the stack', () => {
    const depth = 200_000;
    const error = refusal(body(`{"A":${'['.repeat(depth)}${']'.repeat(depth)}}`));
    assert.equal(httpStatusOf(error), 400);
  });

  it('names a forbidden key however deep it is', () => {
    const depth = 100_000;
    const error = refusal(`{"a":${'['.repeat(depth)}{"prototype":1}${']'.repeat(depth)}}`);
    assert.equal(error.issues[0]?.path, `a.${'0.'.repeat(depth)}prototype`);
  });

  it('names the first twenty of many forbidden keys and counts the rest', () => {
    const error = refusal(`{"list":[${Array(1000).fill('{"constructor":1}').join(',')}]}`);
    assert.equal(error.issues.length, 20);
    assert.match(error.message, /list\.0\.constructor: .*\(and 980 more\)$/);
  });

  it('still accepts those words as values', () => {
    const parsed = parseBody(
      event(body('{"GREETING":"__proto__ constructor prototype"}')),
      putEnvironmentBody,
    );
    assert.equal(parsed.spec.env.GREETING, '__proto__ constructor prototype');
  });
});
