import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { acceptsConnections } from '../../functions/adapters/local/free-port.ts';
import {
  ProcessCompute,
  type ProcessComputeOptions,
} from '../../functions/adapters/local/process-compute.ts';
import { LaunchFailedError } from '../../functions/core/errors.ts';
import type { StackTags } from '../../functions/core/ports/compute.ts';
import type { Instance } from '../../functions/core/types.ts';
import { sampleSpec } from '../support/specs.ts';

const artifactsDir = fileURLToPath(new URL('../../infra/local/artifacts', import.meta.url));

function tagsFor(stackId: string): StackTags {
  return { environment: 'checkout-dev', stackId, deploymentId: `d-${stackId}` };
}

function portOf(instance: Instance): number {
  return Number(new URL(instance.address).port);
}

async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(50);
  }
}

async function stateOf(compute: ProcessCompute, stackId: string, instanceId: string) {
  return (await compute.describeStack(stackId)).find((instance) => instance.id === instanceId)?.state;
}

describe('ProcessCompute with the sample app', () => {
  const computes: ProcessCompute[] = [];
  const tempDirs: string[] = [];

  function newCompute(options: Partial<ProcessComputeOptions> = {}): ProcessCompute {
    const compute = new ProcessCompute({ artifactsDir, ...options });
    computes.push(compute);
    return compute;
  }

  async function tempDir(): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-compute-'));
    tempDirs.push(dir);
    return dir;
  }

  afterEach(async () => {
    await Promise.all(computes.splice(0).map((compute) => compute.shutdown()));
    await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
  });

  test('launches capacity instances that answer / with the spec version', async () => {
    const compute = newCompute();
    const instances = await compute.launchStack(tagsFor('web-v0001'), sampleSpec({ version: '1.2.3' }));

    assert.equal(instances.length, 2);
    assert.equal(new Set(instances.map((instance) => instance.address)).size, 2);
    for (const instance of instances) {
      assert.equal(instance.state, 'running');
      const response = await fetch(`${instance.address}/`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), 'sample-app 1.2.3\n');
    }
  });

  test('launching the same stack again keeps its instances', async () => {
    const compute = newCompute();
    const first = await compute.launchStack(tagsFor('web-v0001'), sampleSpec());
    const second = await compute.launchStack(tagsFor('web-v0001'), sampleSpec());

    assert.deepEqual(second, first);
    assert.deepEqual(await compute.describeStack('web-v0001'), first);
  });

  test('an instance that exits is reported terminated and a relaunch tops the stack back up', async () => {
    const compute = newCompute();
    const spec = sampleSpec({ env: { SAMPLE_CRASH_AFTER: '1' } });
    const [doomed, survivor] = (await compute.launchStack(tagsFor('web-v0001'), spec)) as [
      Instance,
      Instance,
    ];

    await (await fetch(`${doomed.address}/`)).text();
    await eventually(
      async () => (await stateOf(compute, 'web-v0001', doomed.id)) === 'terminated',
      'the crashed instance is terminated',
    );

    const relaunched = await compute.launchStack(tagsFor('web-v0001'), spec);
    assert.equal(relaunched.length, 2);
    assert.ok(relaunched.some((instance) => instance.id === survivor.id));
    assert.ok(relaunched.every((instance) => instance.id !== doomed.id && instance.state === 'running'));
    assert.equal(
      (await compute.describeStack('web-v0001')).length,
      3,
      'the terminated instance is still reported',
    );
  });

  test('terminateStack stops every instance, and terminating again or an unknown stack succeeds', async () => {
    const compute = newCompute();
    const instances = await compute.launchStack(tagsFor('web-v0001'), sampleSpec());

    await compute.terminateStack('web-v0001');

    const described = await compute.describeStack('web-v0001');
    assert.deepEqual(
      described.map((instance) => instance.state),
      ['terminated', 'terminated'],
    );
    for (const instance of instances) assert.equal(await acceptsConnections(portOf(instance)), false);
    await compute.terminateStack('web-v0001');
    await compute.terminateStack('never-launched');
  });

  test('an unknown or path-like artifact fails the launch with LaunchFailedError, naming no host path, and launches nothing', async () => {
    const compute = newCompute();
    for (const artifact of ['no-such-app', '../artifacts/sample-app', 'sample-app/../sample-app', '..']) {
      await assert.rejects(compute.launchStack(tagsFor('web-v0001'), sampleSpec({ artifact })), (error) => {
        assert.ok(error instanceof LaunchFailedError);
        assert.ok(error.message.includes(`"${artifact}"`), error.message);
        assert.ok(!error.message.includes(artifactsDir), error.message);
        assert.ok(!error.message.includes(process.cwd()), error.message);
        return true;
      });
    }
    assert.deepEqual(await compute.describeStack('web-v0001'), []);
  });

  test('the spec environment reaches the app: SAMPLE_HEALTH=fail makes /health answer 503', async () => {
    const compute = newCompute();
    const [instance] = await compute.launchStack(
      tagsFor('web-v0001'),
      sampleSpec({ capacity: 1, env: { SAMPLE_HEALTH: 'fail' } }),
    );

    const response = await fetch(`${instance?.address}/health`);
    assert.equal(response.status, 503);
    await response.text();
  });

  test('SAMPLE_CRASH_AFTER ends the app after that many requests, health probes included', async () => {
    const compute = newCompute();
    const [instance] = (await compute.launchStack(
      tagsFor('web-v0001'),
      sampleSpec({ capacity: 1, env: { SAMPLE_CRASH_AFTER: '2' } }),
    )) as [Instance];

    const health = await fetch(`${instance.address}/health`);
    assert.equal(await health.text(), 'ok');
    const home = await fetch(`${instance.address}/`);
    assert.equal(home.status, 200);
    await home.text();

    await eventually(
      async () => (await stateOf(compute, 'web-v0001', instance.id)) === 'terminated',
      'the app has exited',
    );
    assert.equal(await acceptsConnections(portOf(instance)), false);
  });

  test('an instance sees only PATH, its spec env and its identity, and its output goes to its log', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'artifacts', 'env-dump'), { recursive: true });
    await writeFile(
      join(dir, 'artifacts', 'env-dump', 'server.ts'),
      "import { createServer } from 'node:http';\n" +
        'console.log(JSON.stringify(process.env));\n' +
        "createServer((_req, res) => res.end()).listen(Number(process.env.PORT), '127.0.0.1');\n",
    );
    const logDir = join(dir, 'logs');
    const compute = newCompute({ artifactsDir: join(dir, 'artifacts'), logDir });
    const [instance] = (await compute.launchStack(
      tagsFor('web-v0001'),
      sampleSpec({ artifact: 'env-dump', capacity: 1, version: '3.1.4', env: { FEATURE: 'on', PORT: '1' } }),
    )) as [Instance];

    const logFile = join(logDir, `${instance.id}.log`);
    await eventually(async () => (await readFile(logFile, 'utf8')).includes('{'), 'the app has logged');
    const line = (await readFile(logFile, 'utf8')).split('\n').find((text) => text.startsWith('{'));
    const { PATH, ...seen } = JSON.parse(line ?? '{}') as Record<string, string>;
    assert.equal(PATH, process.env.PATH);
    assert.deepEqual(seen, {
      FEATURE: 'on',
      PORT: String(portOf(instance)),
      APP_VERSION: '3.1.4',
      KILN_ENVIRONMENT: 'checkout-dev',
      KILN_STACK_ID: 'web-v0001',
      KILN_DEPLOYMENT_ID: 'd-web-v0001',
      KILN_INSTANCE_ID: instance.id,
    });
  });

  test('restore after shutdown brings running instances back on the same addresses and forgets terminated stacks', async () => {
    const stateFile = join(await tempDir(), 'compute.json');
    const before = newCompute({ stateFile });
    const launched = await before.launchStack(tagsFor('web-v0002'), sampleSpec({ version: '2.0.0' }));
    await before.launchStack(tagsFor('web-v0001'), sampleSpec({ capacity: 1 }));
    await before.terminateStack('web-v0001');

    await before.shutdown();
    for (const instance of launched) assert.equal(await acceptsConnections(portOf(instance)), false);

    const after = newCompute({ stateFile });
    await after.restore();

    assert.deepEqual(await after.describeStack('web-v0002'), launched);
    assert.deepEqual(await after.describeStack('web-v0001'), []);
    for (const instance of launched) {
      const response = await fetch(`${instance.address}/`);
      assert.equal(await response.text(), 'sample-app 2.0.0\n');
    }
  });

  test('the state file and the instance logs are readable by their owner only', async () => {
    const dir = await tempDir();
    const [stateFile, logDir] = [join(dir, 'compute.json'), join(dir, 'logs')];
    const compute = newCompute({ stateFile, logDir });
    const [instance] = (await compute.launchStack(tagsFor('web-v0001'), sampleSpec({ capacity: 1 }))) as [
      Instance,
    ];

    assert.equal((await stat(stateFile)).mode & 0o777, 0o600);
    assert.equal((await stat(join(logDir, `${instance.id}.log`))).mode & 0o777, 0o600);
    assert.equal((await stat(logDir)).mode & 0o777, 0o700);
  });
});
