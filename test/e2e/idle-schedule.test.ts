import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  approveWhenAsked,
  awaitDeployment,
  call,
  eventually,
  type KilnProcess,
  quickEnvironmentBody,
  removeDataDir,
  startKilnProcess,
} from '../support/kiln-process.ts';

/** Every minute, on the minute: the shortest calendar a cron expression can give. */
const EVERY_MINUTE = 'cron(* * * * ? *)';

/**
 * The schedule itself, as `npm start` runs it: the embedded scheduler invokes the idle sweep's handler
 * every KILN_UPKEEP_PERIOD_SECONDS (2 s here), with no injected clock. An environment whose `sleepAt`
 * comes within the minute is put to sleep by it; a snoozed one with the same calendar, and a prod one by
 * its tier's default, are not.
 */
describe('the idle sweep on its schedule', { timeout: 300_000 }, () => {
  let kiln: KilnProcess;

  before(async () => {
    kiln = await startKilnProcess(undefined, { KILN_UPKEEP_PERIOD_SECONDS: '2' });
  });
  after(async () => {
    await kiln?.stop();
    if (kiln) await removeDataDir(kiln.dataDir);
  });

  /** Deploys the environment; `whileDeploying` runs before its deployment ends (nothing is due until then). */
  async function deploy(
    name: string,
    overrides: Record<string, unknown>,
    whileDeploying: () => Promise<void> = async () => {},
  ) {
    const put = await call(kiln, 'PUT', `/environments/${name}`, {
      body: { ...quickEnvironmentBody('v1'), ...overrides },
    });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    await whileDeploying();
    if (overrides.tier === 'prod') await approveWhenAsked(kiln, name, put.body.deploymentId);
    assert.equal((await awaitDeployment(kiln, name, put.body.deploymentId)).status, 'succeeded');
  }

  it('puts an environment to sleep at its sleepAt time, not a snoozed one nor a prod one', async () => {
    const calendar = { idle: { afterMinutes: null, sleepAt: EVERY_MINUTE } };
    await deploy('sched-prod', { tier: 'prod' });
    // Snoozed before its deployment ends, so no minute can strike between the two.
    await deploy('sched-snoozed', calendar, async () => {
      const until = new Date(Date.now() + 3600_000).toISOString();
      const snoozed = await call(kiln, 'POST', '/environments/sched-snoozed/snooze', { body: { until } });
      assert.equal(snoozed.status, 200, JSON.stringify(snoozed.body));
    });
    await deploy('sched-office', calendar);

    const asleep = await eventually(
      'sched-office to be put to sleep by the schedule',
      async () => {
        const environment = (await call(kiln, 'GET', '/environments/sched-office')).body;
        return environment.status === 'sleeping' && environment.deploymentInProgress === null
          ? environment
          : undefined;
      },
      120_000,
    );
    assert.equal(asleep.liveStack, null);
    const [sleep] = (await call(kiln, 'GET', '/environments/sched-office/deployments?limit=1')).body
      .deployments;
    assert.equal(sleep.action, 'sleep');
    assert.equal(sleep.status, 'succeeded');
    assert.equal(sleep.trigger, 'schedule');
    assert.equal(sleep.actor, 'kiln-idle-sweep');
    assert.match(sleep.reason, /by its idle policy/);
    for (const name of ['sched-snoozed', 'sched-prod']) {
      assert.equal((await call(kiln, 'GET', `/environments/${name}`)).body.status, 'live', name);
    }
  });
});
