import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { ProcessCompute } from '../../functions/adapters/local/process-compute.ts';
import { ProxyTraffic } from '../../functions/adapters/local/proxy-traffic.ts';
import { runHook } from '../../functions/core/hooks.ts';
import type { HookPayload, Hooks } from '../../functions/core/ports/hooks.ts';
import type { Deployment, Spec } from '../../functions/core/types.ts';
import { buildAwsHooks } from '../../functions/shared/aws/hooks.ts';
import { LOCAL_CREDENTIALS } from '../../infra/local/database.ts';
import { type LambdaEndpoint, startLambdaEndpoint } from '../../infra/local/lambda-endpoint.ts';
import { startTestKiln } from '../support/embedded-kiln.ts';
import { sampleSpec } from '../support/specs.ts';

const ROOT = join(import.meta.dirname, '../..');
const ENV = 'checkout-dev';
const PAYLOAD: HookPayload = {
  environment: ENV,
  deploymentId: 'd-0mx5t67x0-35fa28e792',
  stackId: `${ENV}-v0002`,
  hook: 'beforeTraffic',
  testUrl: 'http://127.0.0.1:1',
};

/** A folder of functions: the shipped example hooks and the misbehaving ones of the test fixtures. */
async function functionsFolder(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kiln-hooks-'));
  for (const from of [join(ROOT, 'infra/local/hooks'), join(ROOT, 'test/fixtures/hooks')]) {
    for (const name of await readdir(from)) await copyFile(join(from, name), join(dir, name));
  }
  return dir;
}

/** Pids of the processes running the function file `name` (each invocation is one). */
async function processesRunning(name: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (args.split('\0').some((arg) => arg.endsWith(`/${name}`))) pids.push(Number(entry));
  }
  return pids;
}

describe('verification hooks through the Lambda Invoke API (the embedded Lambda, the one Lambda adapter)', () => {
  let functionsDir: string;
  let endpoint: LambdaEndpoint;
  let hooks: Hooks;
  const savedEndpoint = process.env.AWS_ENDPOINT_URL_LAMBDA;

  before(async () => {
    functionsDir = await functionsFolder();
    endpoint = await startLambdaEndpoint({ functionsDir, host: '127.0.0.1' });
    // The one code path: the SDK's standard endpoint setting, as the runtime sets it.
    process.env.AWS_ENDPOINT_URL_LAMBDA = endpoint.url;
    hooks = buildAwsHooks(new LambdaClient({ region: 'local', credentials: LOCAL_CREDENTIALS }));
  });

  after(async () => {
    if (savedEndpoint === undefined) delete process.env.AWS_ENDPOINT_URL_LAMBDA;
    else process.env.AWS_ENDPOINT_URL_LAMBDA = savedEndpoint;
    await endpoint.close();
    await rm(functionsDir, { recursive: true, force: true });
  });

  test('smoke-test passes against a sample-app stack reached through its test route, and fails one that is unhealthy, though another stack has weight 100', async () => {
    const compute = new ProcessCompute({ artifactsDir: join(ROOT, 'infra/local/artifacts') });
    const traffic = new ProxyTraffic();
    try {
      const healthCheck = sampleSpec().healthCheck;
      const launch = async (stackId: string, spec: Spec) => {
        const instances = await compute.launchStack({ environment: ENV, stackId, deploymentId: 'd' }, spec);
        await traffic.registerStack(ENV, stackId, instances, healthCheck);
      };
      await launch(`${ENV}-v0001`, sampleSpec({ capacity: 1, version: '1.0.0' }));
      await launch(`${ENV}-v0002`, sampleSpec({ capacity: 1, version: '2.0.0' }));
      await launch(
        `${ENV}-v0003`,
        sampleSpec({ capacity: 1, version: '3.0.0', env: { SAMPLE_HEALTH: 'fail' } }),
      );
      await traffic.setWeights(ENV, { [`${ENV}-v0001`]: 100 });
      const since = new Date().toISOString();
      const deployment = (stackId: string): Pick<Deployment, 'id' | 'environment' | 'spec'> => ({
        id: `d-${stackId}`,
        environment: ENV,
        spec: sampleSpec({ hooks: { beforeTraffic: { function: 'smoke-test', timeoutSeconds: 30 } } }),
      });

      assert.deepEqual(
        await runHook({ traffic, hooks }, deployment(`${ENV}-v0002`), `${ENV}-v0002`, 'beforeTraffic'),
        { status: 'Succeeded', reason: `${ENV}-v0002 answered 200 on /health and /` },
      );
      assert.deepEqual(
        await runHook({ traffic, hooks }, deployment(`${ENV}-v0003`), `${ENV}-v0003`, 'beforeTraffic'),
        { status: 'Failed', reason: `${ENV}-v0003: GET /health answered 503` },
      );
      assert.equal(await traffic.lastRequestAt(ENV, since), undefined, 'hook requests are not activity');
      assert.equal(
        await runHook({ traffic, hooks }, deployment(`${ENV}-v0002`), `${ENV}-v0002`, 'afterTraffic'),
        undefined,
        'no afterTraffic hook in the spec: nothing invoked',
      );
    } finally {
      await traffic.close();
      await compute.shutdown();
    }
  });

  test('always-fails is Failed with its own reason', async () => {
    assert.deepEqual(await hooks.invoke('always-fails', PAYLOAD, 10), {
      status: 'Failed',
      reason: `always-fails refuses ${PAYLOAD.stackId} (beforeTraffic), as it always does`,
    });
  });

  test('an unknown function is Failed naming it; a function ARN finds the function of that name', async () => {
    const result = await hooks.invoke('no-such-hook', PAYLOAD, 10);
    assert.equal(result.status, 'Failed');
    assert.match(
      result.reason ?? '',
      /^no-such-hook could not be invoked: ResourceNotFoundException: Function not found: no-such-hook/,
    );
    const arn = 'arn:aws:lambda:eu-west-1:123456789012:function:always-fails:live';
    assert.equal((await hooks.invoke(arn, PAYLOAD, 10)).status, 'Failed');
    assert.match((await hooks.invoke(arn, PAYLOAD, 10)).reason ?? '', /^always-fails refuses/);
  });

  test('a hook that hangs is Failed "timed out" after its timeout, its process is killed, and the next hook runs at once', async () => {
    const started = Date.now();
    const result = await hooks.invoke('hangs', PAYLOAD, 1);
    assert.deepEqual(result, { status: 'Failed', reason: 'hangs timed out after 1 s' });
    assert.ok(Date.now() - started < 3000, `returned after ${Date.now() - started} ms`);
    for (let tries = 0; (await processesRunning('hangs.ts')).length > 0; tries++) {
      assert.ok(tries < 50, 'the hanging invocation is killed');
      await sleep(100);
    }
    assert.equal((await hooks.invoke('always-fails', PAYLOAD, 10)).status, 'Failed');
  });

  test('a function that throws, exits or answers no verdict is Failed saying which', async () => {
    assert.deepEqual(await hooks.invoke('throws', PAYLOAD, 10), {
      status: 'Failed',
      reason: 'throws failed: TypeError: the smoke test could not parse its own configuration',
    });
    assert.deepEqual(await hooks.invoke('exits', PAYLOAD, 10), {
      status: 'Failed',
      reason: 'exits failed: Runtime.ExitError: Runtime exited without answering: exit status 3',
    });
    const nonsense = await hooks.invoke('answers-nonsense', PAYLOAD, 10);
    assert.equal(nonsense.status, 'Failed');
    assert.match(nonsense.reason ?? '', /^answers-nonsense answered "\{\\"ok\\":true\}", not/);
  });

  test('the endpoint answers as Lambda does: the error flagged in X-Amz-Function-Error, 404 ResourceNotFoundException', async () => {
    const invoke = (name: string) =>
      fetch(`${endpoint.url}/2015-03-31/functions/${encodeURIComponent(name)}/invocations`, {
        method: 'POST',
        body: JSON.stringify(PAYLOAD),
      });
    const thrown = await invoke('throws');
    assert.equal(thrown.status, 200);
    assert.equal(thrown.headers.get('x-amz-function-error'), 'Unhandled');
    const body = (await thrown.json()) as { errorType: string; errorMessage: string; trace: string[] };
    assert.deepEqual(
      [body.errorType, body.errorMessage],
      ['TypeError', 'the smoke test could not parse its own configuration'],
    );
    const unknown = await invoke('../infra/local/artifacts/sample-app/server');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers.get('x-amzn-errortype'), 'ResourceNotFoundException');
  });
});

test('npm start serves the embedded Lambda over infra/local/hooks, and its hooks port reaches it', async () => {
  const saved = process.env.AWS_ENDPOINT_URL_LAMBDA;
  const { kiln, dataDir } = await startTestKiln('kiln-hooks-runtime-');
  try {
    assert.deepEqual(await kiln.ports.hooks.invoke('always-fails', PAYLOAD, 10), {
      status: 'Failed',
      reason: `always-fails refuses ${PAYLOAD.stackId} (beforeTraffic), as it always does`,
    });
  } finally {
    await kiln.close();
    await rm(dataDir, { recursive: true, force: true });
    if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_LAMBDA;
    else process.env.AWS_ENDPOINT_URL_LAMBDA = saved;
  }
});
