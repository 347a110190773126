import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
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

  /** Kills the control plane once the workflow's checkpoint names one of `states`. */
  async function killWhen(
    workflow: string,
    deploymentId: string,
    states: readonly string[],
  ): Promise<string> {
    const file = join(dataDir, 'executions', `${workflow}.${deploymentId}.execution.json`);
    const deadline = Date.now() + 60_000;
    let reached: string | undefined;
    while (!reached) {
      if (Date.now() > deadline) throw new Error(`${deploymentId} never reached ${states.join(' or ')}`);
      try {
        const state = (JSON.parse(await readFile(file, 'utf8')) as { state?: { name: string } }).state?.name;
        if (state && states.includes(state)) reached = state;
      } catch {
        // Not written yet, or being replaced.
      }
      if (!reached) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    kiln.child.kill('SIGKILL');
    await once(kiln.child, 'exit');
    return reached;
  }

  async function assertInvariants() {
    await awaitInvariants(dataDir, [ENV]);
  }

  for (const states of [['DecommissionEachStack'], ['KeepEndpoint', 'ParkEndpoint']]) {
    it(`killed while going to sleep (${states.join(', ')}): the sleep finishes, nothing runs, the endpoint stays`, async (t) => {
      const live = (await call(kiln, 'GET', `/environments/${ENV}`)).body.liveStack.stackId;
      const sleep = await call(kiln, 'POST', `/environments/${ENV}/sleep`);
      assert.equal(sleep.status, 202, JSON.stringify(sleep.body));
      t.diagnostic(`killed in ${await killWhen('teardown', sleep.body.deploymentId, states)}`);
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
    ['CutOver', 'HasOldStack'],
  ]) {
    it(`killed while waking on a request (${states.join(', ')}): the held request is answered by the woken stack`, async (t) => {
      const sleep = await call(kiln, 'POST', `/environments/${ENV}/sleep`);
      assert.equal((await awaitDeployment(kiln, ENV, sleep.body.deploymentId)).status, 'succeeded');

      const held = fetch(`${endpoint}/greeting`, { signal: AbortSignal.timeout(60_000) });
      const wakeId = await eventually('the wake to start', async () => {
        const environment = (await call(kiln, 'GET', `/environments/${ENV}`)).body;
        return environment.status === 'waking' ? (environment.latestDeploymentId as string) : undefined;
      });
      t.diagnostic(`killed in ${await killWhen('deploy', wakeId, states)}`);
      kiln = await startKilnProcess(dataDir);

      const answer = await held;
      assert.equal(answer.status, 200);
      assert.equal(await answer.text(), 'still me\n', 'the same env, from the woken stack');
      const wake = await awaitDeployment(kiln, ENV, wakeId);
      assert.equal(wake.status, 'succeeded', JSON.stringify(wake));
      assert.equal(wake.trigger, 'wake');
      assert.equal((await call(kiln, 'GET', `/environments/${ENV}`)).body.status, 'live');
      await assertInvariants();
    });
  }
});
