import assert from 'node:assert/strict';
import { once } from 'node:events';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DaemonTraffic } from '../../functions/adapters/local/daemon-traffic.ts';
import { instanceProcessesOf } from '../../functions/adapters/local/process-compute.ts';
import {
  awaitDeployment,
  call,
  environmentBody,
  fetchText,
  type KilnProcess,
  processesOfStack,
  removeDataDir,
  startKilnProcess,
} from '../support/kiln-process.ts';
import { awaitInvariants } from '../support/real-state.ts';
import { SteadyLoad } from '../support/steady-load.ts';

const ENV = 'crash-dev';
/** Two judged steps of 2 s, then the cutover. */
const CANARY = {
  type: 'canary',
  steps: [
    { weight: 20, bakeSeconds: 2 },
    { weight: 50, bakeSeconds: 2 },
    { weight: 100, bakeSeconds: 0 },
  ],
};
const DAEMON_ENTRY = resolve(import.meta.dirname, '../../infra/local/traffic-daemon.ts');

/**
 * Issue 6: a power cut at any phase of a deployment. `infra/local/main.ts` (what `npm start` runs) is
 * SIGKILLed at each phase of a deployment and started again on the same data folder, while requests
 * keep flowing through the environment's endpoint. After each restart the deployment finishes with the
 * outcome that matches what happened, exactly one version serves (the one the API calls live), DESIGN's
 * invariants hold over the real state (records, the traffic daemon's split, the processes on this
 * host), and the next deployment succeeds. No request fails throughout.
 */
describe('a control plane killed at every phase of a deployment', { timeout: 600_000 }, () => {
  let kiln: KilnProcess;
  let dataDir: string;
  let endpoint: string;
  const load = new SteadyLoad(50);

  before(async () => {
    kiln = await startKilnProcess();
    dataDir = kiln.dataDir;
    const created = await call(kiln, 'PUT', `/environments/${ENV}`, { body: body('1.0.0') });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await awaitDeployment(kiln, ENV, created.body.deploymentId)).status, 'succeeded');
    endpoint = (await call(kiln, 'GET', `/environments/${ENV}`)).body.endpoint;
    load.start(endpoint);
  });

  after(async () => {
    await load.stop();
    await kiln?.stop();
    if (dataDir) await removeDataDir(dataDir);
  });

  /** The spec of every deployment here: 2 instances, quick health checks, a drain long enough to be hit. */
  function body(version: string, overrides: Parameters<typeof environmentBody>[1] = {}) {
    const spec = environmentBody(version, overrides);
    return { ...spec, spec: { ...spec.spec, drainSeconds: 3 } };
  }

  /** The state the embedded runner last entered for the deployment, from its checkpoint file. */
  async function stateOf(deploymentId: string): Promise<string | undefined> {
    try {
      const file = join(dataDir, 'executions', `deploy.${deploymentId}.execution.json`);
      return (JSON.parse(await readFile(file, 'utf8')) as { state?: { name: string } }).state?.name;
    } catch {
      return undefined;
    }
  }

  async function killWhen(deploymentId: string, states: readonly string[], delayMs = 0): Promise<string> {
    let reached: string | undefined;
    const deadline = Date.now() + 60_000;
    while (!reached) {
      const state = await stateOf(deploymentId);
      if (state && states.includes(state)) reached = state;
      else if (Date.now() > deadline) throw new Error(`deployment never reached ${states.join(' or ')}`);
      else await new Promise((r) => setTimeout(r, 10));
    }
    if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
    kiln.child.kill('SIGKILL');
    await once(kiln.child, 'exit');
    return reached;
  }

  async function assertAtRest(expectedVersion: string) {
    const env = await call(kiln, 'GET', `/environments/${ENV}`);
    assert.equal(env.body.liveStack.version, expectedVersion, JSON.stringify(env.body));
    assert.equal(env.body.deploymentInProgress, null);
    const served = new Set(await Promise.all(Array.from({ length: 20 }, () => fetchText(endpoint))));
    assert.deepEqual(
      [...served],
      [`sample-app ${expectedVersion}\n`],
      'exactly one version serves: the live one',
    );
    await awaitInvariants(dataDir, [ENV]);
    const stacks = (await call(kiln, 'GET', `/environments/${ENV}/stacks`)).body.stacks as {
      stackId: string;
      status: string;
    }[];
    for (const stack of stacks.filter((s) => s.status === 'decommissioned' || s.status === 'failed')) {
      assert.deepEqual(await processesOfStack(stack.stackId), [], `no process of ${stack.stackId} remains`);
    }
  }

  const phases: {
    phase: string;
    version: string;
    states: string[];
    delayMs?: number;
    failing?: boolean;
    /** A canary in two judged steps instead of blue/green. */
    canary?: boolean;
    /** Deployed with this rollback window: the replaced stack stays warm. */
    windowSeconds?: number;
    /** A rollback (POST …/rollback) instead of a PUT; `version` is the one it returns to. */
    rollback?: boolean;
    outcome: string;
  }[] = [
    {
      phase: 'provision',
      version: '2.0.0',
      states: ['ProvisionStack', 'AreInstancesRunning'],
      outcome: 'succeeded',
    },
    {
      phase: 'health wait',
      version: '3.0.0',
      states: ['CheckHealth', 'WaitBeforeNextProbe'],
      outcome: 'succeeded',
    },
    {
      phase: 'the moment after the cutover',
      version: '4.0.0',
      states: ['HasStackToRetire', 'DrainOldStack'],
      outcome: 'succeeded',
    },
    {
      phase: 'drain',
      version: '5.0.0',
      states: ['DrainOldStack', 'IsOldStackDrained', 'WaitForOldStackDrain', 'CheckOldStackDrain'],
      delayMs: 1500,
      outcome: 'succeeded',
    },
    { phase: 'decommission', version: '6.0.0', states: ['DecommissionOldStack'], outcome: 'succeeded' },
    {
      phase: 'the wait for the old stack to terminate',
      version: '6.0.1',
      // With the state after the loop: instances that stop at once skip the Wait state.
      states: [
        'IsOldStackTerminated',
        'WaitForOldStackTermination',
        'CheckOldStackTermination',
        'FinishDeployment',
      ],
      outcome: 'succeeded',
    },
    {
      phase: 'keeping the old stack warm',
      version: '6.0.5',
      states: ['StandByOldStack'],
      windowSeconds: 600,
      outcome: 'succeeded',
    },
    { phase: 'a warm rollback', version: '6.0.1', states: ['CutOver'], rollback: true, outcome: 'succeeded' },
    { phase: 'a canary bake', version: '6.1.0', states: ['Bake'], canary: true, outcome: 'succeeded' },
    {
      phase: 'a canary step',
      version: '6.2.0',
      states: ['JudgeCanary', 'ShiftCanary'],
      canary: true,
      outcome: 'succeeded',
    },
    {
      phase: 'rollback',
      version: '7.0.0',
      states: [
        'RestoreTraffic',
        'DecommissionNewStack',
        'WaitForNewStackTermination',
        'CheckNewStackTermination',
      ],
      failing: true,
      outcome: 'rolled_back',
    },
  ];

  let live = '1.0.0';
  for (const {
    phase,
    version,
    states,
    delayMs,
    failing,
    canary,
    windowSeconds,
    rollback,
    outcome,
  } of phases) {
    it(`killed during ${phase}: the deployment ends ${outcome}, one version serves, the invariants hold`, async (t) => {
      const overrides = failing ? { env: { SAMPLE_HEALTH: 'fail' }, deadlineSeconds: 5 } : {};
      const request = body(version, overrides);
      const strategy = canary ? { strategy: CANARY } : {};
      const window = windowSeconds === undefined ? {} : { rollbackWindowSeconds: windowSeconds };
      const put = rollback
        ? await call(kiln, 'POST', `/environments/${ENV}/rollback`, { body: {} })
        : await call(kiln, 'PUT', `/environments/${ENV}`, {
            body: { ...request, ...window, spec: { ...request.spec, ...strategy } },
          });
      assert.equal(put.status, rollback ? 202 : 200, JSON.stringify(put.body));
      const id = put.body.deploymentId as string;

      t.diagnostic(`killed in state ${await killWhen(id, states, delayMs)}`);
      kiln = await startKilnProcess(dataDir);

      const record = await awaitDeployment(kiln, ENV, id);
      assert.equal(record.status, outcome, JSON.stringify(record));
      if (outcome === 'succeeded') live = version;
      await assertAtRest(live);
      assert.deepEqual(load.failures, [], 'no request through the endpoint failed');
    });
  }

  it('after all of that, a following deployment succeeds and no request ever failed', async () => {
    const put = await call(kiln, 'PUT', `/environments/${ENV}`, { body: body('8.0.0') });
    assert.equal((await awaitDeployment(kiln, ENV, put.body.deploymentId)).status, 'succeeded');
    await assertAtRest('8.0.0');
    await load.stop();
    assert.ok(load.succeeded > 500, `requests flowed throughout (${load.succeeded})`);
    assert.ok((load.served.get('200 sample-app 6.2.0') ?? 0) > 0, 'the canaries served too');
    assert.deepEqual(load.failures, []);
  });

  it('keeps the data folder private to its user: no file or folder in it is readable by others', async () => {
    const exposed: string[] = [];
    for (const entry of await readdir(dataDir, { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath, entry.name);
      const { mode } = await lstat(path);
      if (!entry.isSymbolicLink() && (mode & 0o077) !== 0)
        exposed.push(`${path} ${(mode & 0o777).toString(8)}`);
    }
    assert.equal(((await lstat(dataDir)).mode & 0o777).toString(8), '700');
    assert.deepEqual(exposed, []);
  });

  it('Ctrl-C still stops everything: the traffic daemon, every instance, the endpoint', async () => {
    const scan = () => instanceProcessesOf(join(dataDir, 'compute.json'));
    const before = await scan();
    assert.ok(before.verifiable && before.processes.length === 2, 'the live stack runs before the stop');
    const daemon = await DaemonTraffic.connect({ dataDir, daemonEntry: DAEMON_ENTRY });
    assert.equal(daemon.foundRunning, true);
    const daemonPid = (await daemon.status()).pid;
    daemon.detach();

    kiln.child.kill('SIGINT');
    await once(kiln.child, 'exit');

    const after = await scan();
    assert.ok(after.verifiable);
    assert.deepEqual(after.processes, [], 'no instance process is left');
    assert.match(await fetchText(endpoint), /^error: /, 'the endpoint is closed');
    assert.throws(() => process.kill(daemonPid, 0), /ESRCH/, 'the traffic daemon has exited');
  });
});
