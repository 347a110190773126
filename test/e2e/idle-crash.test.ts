import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  awaitDeployment,
  call,
  eventually,
  fetchText,
  type KilnProcess,
  processesOfStack,
  quickEnvironmentBody,
  removeDataDir,
  startKilnProcess,
} from '../support/kiln-process.ts';
import { awaitInvariants } from '../support/real-state.ts';

const ENV = 'idle-crash';

/**
 * Issue 9's workflows through a power cut: `infra/local/main.ts` is SIGKILLed while an environment goes
 * to sleep and while it wakes on a request, and started again on the same data folder. The sleep and
 * the wake each finish, the held request is answered by the woken stack (the data plane never went
 * down), and DESIGN's invariants hold over the real state.
 */
describe('sleep and wake through kill -9', { timeout: 600_000 }, () => {
  let kiln: KilnProcess;
  let dataDir: string;
  let endpoint: string;

  before(async () => {
    kiln = await startKilnProcess();
    dataDir = kiln.dataDir;
    const body = quickEnvironmentBody('v1');
    // Two probes a second apart: the health wait is long enough to be killed in.
    body.spec.healthCheck.healthyThreshold = 2;
    body.spec.env = { GREETING: 'still me' };
    body.spec.drainSeconds = 2;
    const created = await call(kiln, 'PUT', `/environments/${ENV}`, { body });
    assert.equal((await awaitDeployment(kiln, ENV, created.body.deploymentId)).status, 'succeeded');
    endpoint = (await call(kiln, 'GET', `/environments/${ENV}`)).body.endpoint;
  });

  after(async () => {
    await kiln?.stop();
    if (dataDir) await removeDataDir(dataDir);
  });

  /**
   * Kills the control plane once a checkpoint of `workflow` (any execution: a wake starts on its own)
   * names one of `states`; returns the state and the deployment it belongs to.
   */
  async function killWhen(
    workflow: string,
    states: readonly string[],
  ): Promise<{ state: string; deploymentId: string }> {
    const dir = join(dataDir, 'executions');
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (Date.now() > deadline) throw new Error(`no ${workflow} execution reached ${states.join(' or ')}`);
      for (const file of (await readdir(dir).catch(() => [])).filter((f) => f.startsWith(`${workflow}.`))) {
        try {
          const checkpoint = JSON.parse(await readFile(join(dir, file), 'utf8')) as {
            input: { deploymentId: string };
            state?: { name: string };
          };
          const state = checkpoint.state?.name;
          if (state && states.includes(state)) {
            kiln.child.kill('SIGKILL');
            await once(kiln.child, 'exit');
            return { state, deploymentId: checkpoint.input.deploymentId };
          }
        } catch {
          // Being written, or just removed.
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** The environment once live and settled (a wake records its outcome just after the cutover answers). */
  async function settledLive() {
    return eventually(`${ENV} to be live and settled`, async () => {
      const environment = (await call(kiln, 'GET', `/environments/${ENV}`)).body;
      return environment.status === 'live' && environment.deploymentInProgress === null
        ? environment
        : undefined;
    });
  }

  async function assertInvariants() {
    await awaitInvariants(dataDir, [ENV]);
  }

  // Each list: the states a kill may land in (the short ones with the state after them, so a fast run cannot slip past).
  for (const states of [['DecommissionEachStack'], ['KeepEndpoint', 'ParkEndpoint', 'FinishDeployment']]) {
    it(`killed while going to sleep (${states.join(', ')}): the sleep finishes, nothing runs, the endpoint stays`, async (t) => {
      const live = (await settledLive()).liveStack.stackId;
      const sleep = await call(kiln, 'POST', `/environments/${ENV}/sleep`);
      assert.equal(sleep.status, 202, JSON.stringify(sleep.body));
      const killed = await killWhen('teardown', states);
      assert.equal(killed.deploymentId, sleep.body.deploymentId);
      t.diagnostic(`killed in ${killed.state}`);
      kiln = await startKilnProcess(dataDir);
      const record = await awaitDeployment(kiln, ENV, sleep.body.deploymentId);
      assert.equal(record.status, 'succeeded', JSON.stringify(record));
      const environment = (await call(kiln, 'GET', `/environments/${ENV}`)).body;
      assert.equal(environment.status, 'sleeping');
      assert.equal(environment.endpoint, endpoint);
      assert.deepEqual(await processesOfStack(live), []);
      await assertInvariants();

      // Woken by a request again, so that the next case has something to put to sleep.
      assert.equal(await fetchText(`${endpoint}/greeting`), 'still me\n');
    });
  }

  for (const states of [
    ['ProvisionStack'],
    ['CheckHealth', 'WaitBeforeNextProbe'],
    ['CutOver', 'HasStackToRetire', 'FinishDeployment'],
  ]) {
    it(`killed while waking on a request (${states.join(', ')}): the held request is answered by the woken stack`, async (t) => {
      await settledLive();
      const sleep = await call(kiln, 'POST', `/environments/${ENV}/sleep`);
      assert.equal((await awaitDeployment(kiln, ENV, sleep.body.deploymentId)).status, 'succeeded');

      const held = fetch(`${endpoint}/greeting`, { signal: AbortSignal.timeout(60_000) });
      const { state, deploymentId: wakeId } = await killWhen('deploy', states);
      t.diagnostic(`killed in ${state}`);
      kiln = await startKilnProcess(dataDir);

      const answer = await held;
      assert.equal(answer.status, 200);
      assert.equal(await answer.text(), 'still me\n', 'the same env, from the woken stack');
      const wake = await awaitDeployment(kiln, ENV, wakeId);
      assert.equal(wake.status, 'succeeded', JSON.stringify(wake));
      assert.equal(wake.trigger, 'wake');
      assert.equal((await settledLive()).status, 'live');
      await assertInvariants();
    });
  }
});
