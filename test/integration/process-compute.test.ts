import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { acceptsConnections, freePort } from '../../functions/adapters/local/free-port.ts';
import {
  findInstanceProcesses,
  type InstanceProcess,
} from '../../functions/adapters/local/instance-processes.ts';
import {
  instanceProcessesOf,
  ProcessCompute,
  type ProcessComputeOptions,
} from '../../functions/adapters/local/process-compute.ts';
import { LaunchFailedError } from '../../functions/core/errors.ts';
import type { StackTags } from '../../functions/core/ports/compute.ts';
import type { Instance, Spec } from '../../functions/core/types.ts';
import type { HostCommand } from '../support/compute-host.ts';
import { processesOfStack } from '../support/kiln-process.ts';
import { sampleSpec } from '../support/specs.ts';

const artifactsDir = fileURLToPath(new URL('../../infra/local/artifacts', import.meta.url));
const COMPUTE_HOST = fileURLToPath(new URL('../support/compute-host.ts', import.meta.url));
/**
 * Stack ids of the crash tests, unique to this run: they are counted through /proc by KILN_STACK_ID,
 * and other test runs on the same host use the same environment names.
 */
const WEB = `web${randomBytes(3).toString('hex')}`;

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

/** Terminates the stack as the workflow does: the act, then checks (each calling it again) until all are gone. */
async function terminate(compute: ProcessCompute, stackId: string): Promise<void> {
  await compute.terminateStack(stackId);
  await eventually(async () => {
    await compute.terminateStack(stackId);
    return (await compute.describeStack(stackId)).every((instance) => instance.state === 'terminated');
  }, `the instances of ${stackId} to be terminated`);
}

async function stateOf(compute: ProcessCompute, stackId: string, instanceId: string) {
  return (await compute.describeStack(stackId)).find((instance) => instance.id === instanceId)?.state;
}

/** Instance processes of a data folder, found by its owner marker, sorted by pid. */
async function processesOf(stateFile: string): Promise<InstanceProcess[]> {
  const scan = await instanceProcessesOf(stateFile);
  assert.ok(scan.verifiable, 'these tests need Linux /proc');
  return scan.processes.sort((a, b) => a.pid - b.pid);
}

async function pidsOf(stateFile: string): Promise<number[]> {
  return (await processesOf(stateFile)).map((found) => found.pid);
}

/** Pids carrying KILN_STACK_ID=<stackId>, whoever owns them, counted the way the e2e tests count. */
async function pidsOfStack(stackId: string): Promise<number[]> {
  return (await processesOfStack(stackId)).sort((a, b) => a - b);
}

interface RecordedInstance {
  id: string;
  port: number;
  state: string;
  pid?: number;
  startTime?: number;
}

interface RecordedState {
  owner: string;
  stacks: Record<string, { instances: RecordedInstance[] }>;
}

async function recorded(stateFile: string): Promise<RecordedState> {
  return JSON.parse(await readFile(stateFile, 'utf8')) as RecordedState;
}

async function rewrite(stateFile: string, change: (state: RecordedState) => void): Promise<void> {
  const state = await recorded(stateFile);
  change(state);
  await writeFile(stateFile, JSON.stringify(state));
}

function idsOf(instances: Instance[] | undefined): string[] {
  return (instances ?? []).map((instance) => instance.id).sort();
}

async function body(instance: Instance): Promise<string> {
  const response = await fetch(`${instance.address}/`);
  return response.text();
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

  const hosts: ChildProcess[] = [];
  /** Data folders of the test: whatever their instances, orphaned on purpose or not, dies with the test. */
  const stateFiles: string[] = [];
  const servers: Server[] = [];

  async function newStateFile(): Promise<string> {
    const stateFile = join(await tempDir(), 'compute.json');
    stateFiles.push(stateFile);
    return stateFile;
  }

  /**
   * Runs a ProcessCompute in a child process, launches the stacks there, then SIGKILLs that process:
   * Kiln crashing with no chance to clean up. Its instances are left behind, as in issue 6.
   */
  async function crashAfterLaunching(
    stateFile: string,
    launches: { tags: StackTags; spec: Spec }[],
  ): Promise<Record<string, Instance[]>> {
    const command: HostCommand = { artifactsDir, stateFile, launches };
    const host = spawn(process.execPath, [COMPUTE_HOST, JSON.stringify(command)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    hosts.push(host);
    const exited = new Promise((resolve) => host.once('exit', resolve));
    const line = await new Promise<string>((resolve, reject) => {
      let output = '';
      host.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('\n')) resolve(output.slice(0, output.indexOf('\n')));
      });
      void exited.then(() => reject(new Error(`the compute host exited before launching: ${output}`)));
    });
    host.kill('SIGKILL');
    await exited;
    return JSON.parse(line) as Record<string, Instance[]>;
  }

  /** Keeps a loopback port busy, as another program would. */
  async function occupy(port: number): Promise<void> {
    const server = createServer((socket) => socket.end());
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  }

  afterEach(async () => {
    await Promise.all(computes.splice(0).map((compute) => compute.shutdown()));
    for (const host of hosts.splice(0))
      if (host.exitCode === null && host.signalCode === null) host.kill('SIGKILL');
    for (const stateFile of stateFiles.splice(0)) {
      for (const found of await processesOf(stateFile)) {
        try {
          process.kill(-found.pgid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
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

  test('terminateStack stops every instance, reporting each stopping until it has exited; again or an unknown stack succeeds', async () => {
    const compute = newCompute();
    const instances = await compute.launchStack(tagsFor('web-v0001'), sampleSpec());

    await compute.terminateStack('web-v0001');
    for (const instance of await compute.describeStack('web-v0001')) {
      assert.ok(['stopping', 'terminated'].includes(instance.state), instance.state);
    }
    await terminate(compute, 'web-v0001');

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

  test('a spec setting a host-reserved variable (stored before the edge refused it) launches nothing', async () => {
    const compute = newCompute();
    const env = { NODE_OPTIONS: '--import=data:text/javascript,process.exit(7)', SAMPLE_HEALTH: 'ok' };
    await assert.rejects(
      compute.launchStack(tagsFor('web-v0001'), sampleSpec({ env })),
      (error) => error instanceof LaunchFailedError && /NODE_OPTIONS/.test(error.message),
    );
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
      sampleSpec({ artifact: 'env-dump', capacity: 1, version: '3.1.4', env: { FEATURE: 'on' } }),
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
      KILN_COMPUTE_OWNER: seen.KILN_COMPUTE_OWNER,
    });
    assert.match(seen.KILN_COMPUTE_OWNER ?? '', /^[0-9a-f-]{36}$/);
  });

  test('shutdown records instances stopped, and restore starts them again on the same ports and forgets terminated stacks', async () => {
    const stateFile = await newStateFile();
    const before = newCompute({ stateFile });
    const launched = await before.launchStack(tagsFor('web-v0002'), sampleSpec({ version: '2.0.0' }));
    await before.launchStack(tagsFor('web-v0001'), sampleSpec({ capacity: 1 }));
    await terminate(before, 'web-v0001');
    const pidsBefore = await pidsOf(stateFile);

    await before.shutdown();
    for (const instance of launched) assert.equal(await acceptsConnections(portOf(instance)), false);
    assert.deepEqual(await pidsOf(stateFile), []);
    assert.deepEqual(
      (await recorded(stateFile)).stacks['web-v0002']?.instances.map((instance) => instance.state),
      ['stopped', 'stopped'],
    );

    const after = newCompute({ stateFile });
    const report = await after.restore();

    assert.deepEqual(report, { adopted: [], stopped: [], restarted: idsOf(launched), lost: [] });
    assert.deepEqual(await after.describeStack('web-v0002'), launched);
    assert.deepEqual(await after.describeStack('web-v0001'), []);
    const pidsAfter = await pidsOf(stateFile);
    assert.equal(pidsAfter.length, 2);
    assert.ok(
      pidsAfter.every((pid) => !pidsBefore.includes(pid)),
      'new processes',
    );
    for (const instance of launched) assert.equal(await body(instance), 'sample-app 2.0.0\n');
  });

  test('instances keep serving through a crash, and restore adopts the very same processes', async () => {
    const stateFile = await newStateFile();
    const stackId = `${WEB}-v0001`;
    const { [stackId]: launched = [] } = await crashAfterLaunching(stateFile, [
      { tags: tagsFor(stackId), spec: sampleSpec({ version: '4.0.0' }) },
    ]);
    const orphans = await processesOf(stateFile);
    assert.equal(orphans.length, 2);
    assert.ok(
      orphans.every((found) => found.pgid === found.pid),
      'each instance leads its own process group',
    );
    assert.deepEqual(await pidsOfStack(stackId), await pidsOf(stateFile));
    for (const instance of launched) assert.equal(await body(instance), 'sample-app 4.0.0\n');

    const compute = newCompute({ stateFile });
    const report = await compute.restore();

    assert.deepEqual(report, { adopted: idsOf(launched), stopped: [], restarted: [], lost: [] });
    assert.deepEqual(await compute.describeStack(stackId), launched);
    assert.deepEqual(await processesOf(stateFile), orphans, 'same processes, none restarted');
    assert.deepEqual(await pidsOfStack(stackId), await pidsOf(stateFile));
    for (const instance of launched) assert.equal(await body(instance), 'sample-app 4.0.0\n');
    const records = (await recorded(stateFile)).stacks[stackId]?.instances ?? [];
    assert.deepEqual(
      records.map((record) => [record.state, record.pid, record.startTime]),
      orphans.map((found) => ['running', found.pid, found.startTime]),
    );
  });

  test('a provision resumed after a crash and a restore launches nothing more: exactly capacity processes', async () => {
    const stateFile = await newStateFile();
    const stackId = `${WEB}-v0002`;
    const spec = sampleSpec();
    const { [stackId]: launched } = await crashAfterLaunching(stateFile, [{ tags: tagsFor(stackId), spec }]);
    const pids = await pidsOf(stateFile);

    const compute = newCompute({ stateFile });
    await compute.restore();
    const again = await compute.launchStack(tagsFor(stackId), spec);

    assert.deepEqual(again, launched);
    assert.deepEqual(await pidsOf(stateFile), pids);
    assert.equal((await pidsOfStack(stackId)).length, spec.capacity);
  });

  test('restore stops the processes of a stack that should no longer run and records them terminated', async () => {
    const stateFile = await newStateFile();
    const [retired, kept] = [`${WEB}-v0003`, `${WEB}-v0004`];
    const launched = await crashAfterLaunching(stateFile, [
      { tags: tagsFor(retired), spec: sampleSpec() },
      { tags: tagsFor(kept), spec: sampleSpec({ capacity: 1 }) },
    ]);
    const keptPids = await pidsOfStack(kept);
    const asked: string[] = [];

    const compute = newCompute({ stateFile });
    const report = await compute.restore(async (stackId) => {
      asked.push(stackId);
      return stackId === kept;
    });

    assert.deepEqual(report, {
      adopted: idsOf(launched[kept]),
      stopped: idsOf(launched[retired]),
      restarted: [],
      lost: [],
    });
    assert.deepEqual(asked.sort(), [retired, kept].sort(), 'asked once per stack');
    assert.deepEqual(await pidsOfStack(retired), []);
    assert.deepEqual(await pidsOfStack(kept), keptPids);
    assert.deepEqual(
      (await compute.describeStack(retired)).map((instance) => instance.state),
      ['terminated', 'terminated'],
    );
    for (const instance of launched[retired] ?? [])
      assert.equal(await acceptsConnections(portOf(instance)), false);
  });

  test('an instance that died while Kiln was down is recorded terminated, never started again on its port', async () => {
    const stateFile = await newStateFile();
    const stackId = `${WEB}-v0005`;
    const { [stackId]: launched = [] } = await crashAfterLaunching(stateFile, [
      { tags: tagsFor(stackId), spec: sampleSpec() },
    ]);
    const [dead, alive] = (await processesOf(stateFile)) as [InstanceProcess, InstanceProcess];
    process.kill(-dead.pgid, 'SIGKILL');
    await eventually(async () => (await pidsOf(stateFile)).length === 1, 'the instance is gone');

    const compute = newCompute({ stateFile });
    const report = await compute.restore();

    assert.deepEqual(report, {
      adopted: [alive.instanceId],
      stopped: [],
      restarted: [],
      lost: [{ instanceId: dead.instanceId, reason: 'its process is gone' }],
    });
    assert.equal(await stateOf(compute, stackId, dead.instanceId ?? ''), 'terminated');
    assert.equal(await stateOf(compute, stackId, alive.instanceId ?? ''), 'running');
    assert.deepEqual(await pidsOfStack(stackId), [alive.pid]);
    const deadInstance = launched.find((instance) => instance.id === dead.instanceId) as Instance;
    assert.equal(await acceptsConnections(portOf(deadInstance)), false);

    const toppedUp = await compute.launchStack(tagsFor(stackId), sampleSpec());
    assert.equal(toppedUp.length, 2);
    assert.ok(toppedUp.every((instance) => instance.id !== dead.instanceId));
    assert.equal((await pidsOfStack(stackId)).length, 2);
  });

  test('an adopted instance that exits later is recorded terminated', async () => {
    const stateFile = await newStateFile();
    const stackId = `${WEB}-v0006`;
    const { [stackId]: [instance] = [] } = await crashAfterLaunching(stateFile, [
      { tags: tagsFor(stackId), spec: sampleSpec({ capacity: 1, env: { SAMPLE_CRASH_AFTER: '1' } }) },
    ]);
    assert.ok(instance);
    const compute = newCompute({ stateFile });
    assert.deepEqual((await compute.restore()).adopted, [instance.id]);

    assert.equal(await body(instance), 'sample-app 1.0.0\n');

    await eventually(
      async () => (await stateOf(compute, stackId, instance.id)) === 'terminated',
      'the adopted instance is recorded terminated',
    );
    await eventually(
      async () => (await recorded(stateFile)).stacks[stackId]?.instances[0]?.state === 'terminated',
      'the state file records it terminated',
    );
    assert.deepEqual(await pidsOfStack(stackId), []);
  });

  test('terminateStack stops adopted instances', async () => {
    const stateFile = await newStateFile();
    const stackId = `${WEB}-v0007`;
    const { [stackId]: launched = [] } = await crashAfterLaunching(stateFile, [
      { tags: tagsFor(stackId), spec: sampleSpec() },
    ]);
    const compute = newCompute({ stateFile });
    await compute.restore();

    await terminate(compute, stackId);

    assert.deepEqual(await pidsOfStack(stackId), []);
    assert.deepEqual(
      (await compute.describeStack(stackId)).map((instance) => instance.state),
      ['terminated', 'terminated'],
    );
    for (const instance of launched) assert.equal(await acceptsConnections(portOf(instance)), false);
  });

  test('a stopped instance whose port was taken meanwhile is recorded terminated with a warning, not started', async () => {
    const stateFile = await newStateFile();
    const stackId = `${WEB}-v0008`;
    const before = newCompute({ stateFile });
    const [instance] = (await before.launchStack(tagsFor(stackId), sampleSpec({ capacity: 1 }))) as [
      Instance,
    ];
    await before.shutdown();
    await occupy(portOf(instance));
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.message);
    process.on('warning', onWarning);

    try {
      const after = newCompute({ stateFile });
      const report = await after.restore();

      const reason = `port ${portOf(instance)} is in use`;
      assert.deepEqual(report, {
        adopted: [],
        stopped: [],
        restarted: [],
        lost: [{ instanceId: instance.id, reason }],
      });
      assert.equal(await stateOf(after, stackId, instance.id), 'terminated');
      assert.deepEqual(await pidsOfStack(stackId), []);
      await eventually(async () => warnings.some((warning) => warning.includes(reason)), 'a warning');
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('an instance recorded without its pid (Kiln crashed right after spawning it) is found and adopted', async () => {
    const stateFile = await newStateFile();
    const stackId = `${WEB}-v0009`;
    const { [stackId]: launched } = await crashAfterLaunching(stateFile, [
      { tags: tagsFor(stackId), spec: sampleSpec() },
    ]);
    const pids = await pidsOf(stateFile);
    await rewrite(stateFile, (state) => {
      for (const record of state.stacks[stackId]?.instances ?? []) {
        delete record.pid;
        delete record.startTime;
      }
    });

    const compute = newCompute({ stateFile });
    const report = await compute.restore();

    assert.deepEqual(report.adopted, idsOf(launched));
    assert.deepEqual(await pidsOf(stateFile), pids);
    assert.deepEqual(
      (await recorded(stateFile)).stacks[stackId]?.instances.map((record) => record.pid),
      pids,
    );
  });

  test('a process of this data folder that the state file does not know is found and stopped', async () => {
    const stateFile = await newStateFile();
    const stackId = `${WEB}-v0010`;
    const { [stackId]: [known, unknown] = [] } = await crashAfterLaunching(stateFile, [
      { tags: tagsFor(stackId), spec: sampleSpec() },
    ]);
    assert.ok(known && unknown);
    await rewrite(stateFile, (state) => {
      const stack = state.stacks[stackId];
      if (stack) stack.instances = stack.instances.filter((record) => record.id !== unknown.id);
    });
    const [knownPid] = (await processesOf(stateFile)).filter((found) => found.instanceId === known.id);

    const compute = newCompute({ stateFile });
    const report = await compute.restore();

    assert.deepEqual(report, { adopted: [known.id], stopped: [unknown.id], restarted: [], lost: [] });
    assert.deepEqual(await pidsOfStack(stackId), [knownPid?.pid]);
    assert.equal(await acceptsConnections(portOf(unknown)), false);
    assert.equal(await body(known), 'sample-app 1.0.0\n');
  });

  test('lists the stacks of its processes by their markers, recorded or not, and terminates unrecorded ones too', async () => {
    const stateFile = await newStateFile();
    const [behind, recordedStack] = [`${WEB}-v0020`, `${WEB}-v0021`];
    const before = Date.now();
    // Launched by a Kiln that crashed; the compute below never restores, so records none of them.
    const { [behind]: strays = [] } = await crashAfterLaunching(stateFile, [
      { tags: tagsFor(behind), spec: sampleSpec() },
    ]);
    const compute = newCompute({ stateFile });
    const launched = await compute.launchStack(tagsFor(recordedStack), sampleSpec({ capacity: 1 }));

    const listed = (await compute.listTaggedStacks()).sort((a, b) => a.stackId.localeCompare(b.stackId));

    assert.deepEqual(
      listed.map((stack) => ({ stackId: stack.stackId, ids: idsOf(stack.instances) })),
      [
        { stackId: behind, ids: idsOf(strays) },
        { stackId: recordedStack, ids: idsOf(launched) },
      ],
    );
    for (const stack of listed) {
      const launchedAt = Date.parse(stack.launchedAt ?? '');
      // Start times come from /proc in ticks of 10 ms since boot (whose own time is whole seconds).
      assert.ok(launchedAt >= before - 2000 && launchedAt <= Date.now() + 1000, `${stack.launchedAt}`);
    }
    assert.equal(await body(listed[0]?.instances[0] as Instance), 'sample-app 1.0.0\n');

    await terminate(compute, behind);

    assert.deepEqual(await pidsOfStack(behind), []);
    assert.deepEqual(
      (await compute.listTaggedStacks()).map((stack) => stack.stackId),
      [recordedStack],
    );
  });

  test("another data folder's instances are never touched, even with the same stack ids", async () => {
    const [ours, theirs] = [await newStateFile(), await newStateFile()];
    const stackId = `${WEB}-v0011`;
    const launch = [{ tags: tagsFor(stackId), spec: sampleSpec() }];
    await crashAfterLaunching(ours, launch);
    const { [stackId]: theirInstances = [] } = await crashAfterLaunching(theirs, launch);
    const theirPids = await pidsOf(theirs);
    assert.equal((await pidsOfStack(stackId)).length, 4);

    const compute = newCompute({ stateFile: ours });
    const report = await compute.restore(() => false);

    assert.equal(report.stopped.length, 2);
    assert.deepEqual(await pidsOf(ours), []);
    assert.deepEqual(await pidsOf(theirs), theirPids);
    assert.deepEqual(await pidsOfStack(stackId), theirPids);
    for (const instance of theirInstances) assert.equal(await body(instance), 'sample-app 1.0.0\n');
    const owners = [(await recorded(ours)).owner, (await recorded(theirs)).owner];
    assert.notEqual(owners[0], owners[1]);
    const scan = await findInstanceProcesses(owners[1] ?? '');
    assert.ok(scan.verifiable);
    assert.deepEqual(
      scan.processes.map((found) => found.pid).sort((a, b) => a - b),
      theirPids,
    );
  });

  test('a state file from before owner markers has its running instances started again on their ports', async () => {
    const stateFile = await newStateFile();
    const stackId = `${WEB}-v0012`;
    const port = await freePort();
    await writeFile(
      stateFile,
      JSON.stringify({
        stacks: {
          [stackId]: {
            tags: tagsFor(stackId),
            spec: sampleSpec({ capacity: 1 }),
            instances: [{ id: `i-${stackId}-1`, port, state: 'running' }],
          },
        },
      }),
    );

    const compute = newCompute({ stateFile });
    const report = await compute.restore();

    assert.deepEqual(report.restarted, [`i-${stackId}-1`]);
    assert.match((await recorded(stateFile)).owner, /^[0-9a-f-]{36}$/);
    assert.deepEqual(await pidsOfStack(stackId), await pidsOf(stateFile));
    assert.equal(await acceptsConnections(port), true);
  });

  test('the state file and the instance logs are readable by their owner only', async () => {
    const stateFile = await newStateFile();
    const logDir = join(await tempDir(), 'logs');
    const compute = newCompute({ stateFile, logDir });
    const [instance] = (await compute.launchStack(tagsFor('web-v0001'), sampleSpec({ capacity: 1 }))) as [
      Instance,
    ];

    assert.equal((await stat(stateFile)).mode & 0o777, 0o600);
    assert.equal((await stat(join(logDir, `${instance.id}.log`))).mode & 0o777, 0o600);
    assert.equal((await stat(logDir)).mode & 0o777, 0o700);
  });
});
