import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PUSH_QUEUE } from '../../functions/manifest.ts';
import { commitOf, githubPush } from '../fixtures/push-events.ts';
import { deliver } from '../support/github.ts';
import {
  awaitDeployment,
  call,
  eventually,
  fetchText,
  type KilnProcess,
  quickEnvironmentBody,
  removeDataDir,
  startKilnProcess,
} from '../support/kiln-process.ts';
import { realStateViolations } from '../support/real-state.ts';

const ENVIRONMENTS = 50;
const PUSHES_PER_ENVIRONMENT = 20;
const DELIVERIES_PER_PUSH = 3;
/** Requests in flight at once: "as fast as the gateway takes them". */
const SENDERS = 32;
const REPOSITORY = 'acme/load';
const T0 = Date.parse('2026-11-01T00:00:00Z');

interface LoadPush {
  environment: string;
  branch: string;
  commit: string;
  committedAt: string;
  deliveryId: string;
}

/** Fisher-Yates with a seeded generator: a shuffle that is the same on every run. */
function shuffled<T>(items: T[], seed = 42): T[] {
  let state = seed;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/** How many messages of the push queue are received and not yet deleted, read from its folder on disk. */
async function inFlightOnDisk(dataDir: string): Promise<number> {
  const folder = join(dataDir, 'queues', `${PUSH_QUEUE}.fifo`);
  let inFlight = 0;
  for (const file of await readdir(folder)) {
    if (!file.endsWith('.json')) continue;
    try {
      const entry = JSON.parse(await readFile(join(folder, file), 'utf8')) as { invisibleUntil?: number };
      if ((entry.invisibleUntil ?? 0) > Date.now()) inFlight++;
    } catch {
      // Deleted or replaced while we looked.
    }
  }
  return inFlight;
}

/**
 * Issue 8's load: 1,000 pushes to 50 environments (capacity 1 each), every push delivered 3 times, all
 * 3,000 deliveries shuffled and sent as fast as the gateway takes them to `npm start`, which is
 * SIGKILLed halfway, while the consumer has a batch in flight, and started again on the same data
 * folder (a delivery whose request failed is sent again, as a redelivery would be). Then: every
 * environment serves its newest commit; no commit was deployed twice; no deployment started for a
 * commit older than one already deployed there; every push is accounted for in `/pushes`, once as
 * received and once per further arrival; DESIGN's invariants hold over the real state.
 */
describe('1,000 pushes × 3 deliveries, shuffled, through a SIGKILL', { timeout: 900_000 }, () => {
  let kiln: KilnProcess;
  let dataDir: string;
  const environments = Array.from({ length: ENVIRONMENTS }, (_, i) => `load-${String(i).padStart(2, '0')}`);
  const pushes: LoadPush[] = environments.flatMap((environment, e) =>
    Array.from({ length: PUSHES_PER_ENVIRONMENT }, (_, k) => ({
      environment,
      branch: `team-${e}/main`,
      commit: commitOf(`${environment}-${k}`),
      committedAt: new Date(T0 + k * 60_000).toISOString(),
      deliveryId: crypto.randomUUID(),
    })),
  );
  const commitTime = new Map(pushes.map((push) => [push.commit, Date.parse(push.committedAt)]));
  /** 202s per delivery id: what GitHub would see as accepted. */
  const accepted = new Map<string, number>();
  let killedWithInFlight = 0;

  before(async () => {
    kiln = await startKilnProcess();
    dataDir = kiln.dataDir;
    const created = await Promise.all(
      environments.map(async (name, e) => {
        const body = quickEnvironmentBody('v0');
        const response = await call(kiln, 'PUT', `/environments/${name}`, {
          body: { ...body, source: { provider: 'github', repository: REPOSITORY, branch: `team-${e}/main` } },
        });
        assert.equal(response.status, 201, JSON.stringify(response.body));
        return response.body.deploymentId as string;
      }),
    );
    await Promise.all(
      environments.map((name, e) => awaitDeployment(kiln, name, created[e] as string, 180_000)),
    );
  });

  after(async () => {
    await kiln?.stop();
    if (dataDir) await removeDataDir(dataDir);
  });

  it('sends every delivery, through a SIGKILL and a restart, and each is accepted', async () => {
    const deliveries = shuffled(
      pushes.flatMap((push) => Array.from({ length: DELIVERIES_PER_PUSH }, () => push)),
    );
    let next = 0;
    let restarting: Promise<void> | undefined;

    const restart = async () => {
      // Halfway, and while the consumer holds a batch: the strongest moment to lose something.
      await eventually(
        'a batch in flight',
        async () => ((await inFlightOnDisk(dataDir)) > 0 ? true : undefined),
        30_000,
      );
      killedWithInFlight = await inFlightOnDisk(dataDir);
      kiln.child.kill('SIGKILL');
      await once(kiln.child, 'exit');
      kiln = await startKilnProcess(dataDir);
    };

    const send = async () => {
      while (next < deliveries.length) {
        const push = deliveries[next++] as LoadPush;
        if (next === deliveries.length / 2) restarting = restart();
        for (;;) {
          try {
            await restarting;
            const response = await deliver(
              kiln,
              githubPush({
                repository: REPOSITORY,
                branch: push.branch,
                commit: push.commit,
                committedAt: push.committedAt,
              }),
              { deliveryId: push.deliveryId },
            );
            assert.equal(response.status, 202, JSON.stringify(response.body));
            accepted.set(push.deliveryId, (accepted.get(push.deliveryId) ?? 0) + 1);
            break;
          } catch (error) {
            if (error instanceof assert.AssertionError) throw error;
            // Kiln is down: send it again once it is back, as GitHub's redelivery would.
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
    };
    await Promise.all(Array.from({ length: SENDERS }, send));
    await restarting;

    assert.ok(killedWithInFlight > 0, 'the consumer had a batch in flight when Kiln was killed');
    assert.equal(accepted.size, pushes.length);
    for (const push of pushes) assert.ok((accepted.get(push.deliveryId) ?? 0) >= DELIVERIES_PER_PUSH);
  });

  // biome-ignore lint/suspicious/noExplicitAny: records are inspected field by field
  const recordsOf = async (name: string): Promise<any[]> =>
    (await call(kiln, 'GET', `/environments/${name}/pushes?limit=100`)).body.pushes;

  it('accounts for every push in /pushes: received once, each further arrival a duplicate', async () => {
    const byDelivery = new Map(pushes.map((push) => [push.deliveryId, push]));
    await eventually(
      'every arrival recorded',
      async () => {
        for (const name of environments) {
          const records = await recordsOf(name);
          const expected = pushes
            .filter((push) => push.environment === name)
            .reduce((sum, push) => sum + (accepted.get(push.deliveryId) ?? 0), 0);
          if (records.length < expected) return undefined;
        }
        return true;
      },
      600_000,
    );
    for (const name of environments) {
      const records = await recordsOf(name);
      assert.ok(records.length < 100, `${name}: the list is complete (${records.length} records)`);
      const own = pushes.filter((push) => push.environment === name);
      for (const push of own) {
        const arrivals = records.filter((record) => record.deliveryId === push.deliveryId);
        const first = arrivals.filter((record) => !record.arrival);
        assert.equal(first.length, 1, `${name}: ${push.deliveryId} recorded once as received`);
        assert.ok(['deployed', 'superseded', 'stale'].includes(first[0].outcome), first[0].outcome);
        assert.equal(first[0].commit, push.commit);
        // The arrivals the gateway acknowledged, plus any whose 202 was lost to the SIGKILL.
        assert.ok(
          arrivals.length >= (accepted.get(push.deliveryId) ?? 0),
          `${name}: every arrival of ${push.deliveryId}`,
        );
        for (const duplicate of arrivals.filter((record) => record.arrival))
          assert.equal(duplicate.outcome, 'duplicate');
      }
      assert.ok(records.every((record) => byDelivery.get(record.deliveryId)?.environment === name));
    }
  });

  it('ends with every environment serving its newest commit; no commit deployed twice, none older after newer', async (t) => {
    let deploymentsStarted = 0;
    for (const name of environments) {
      const newest = pushes.filter((push) => push.environment === name).at(-1) as LoadPush;
      // biome-ignore lint/suspicious/noExplicitAny: deployments are inspected field by field
      const deployments: any[] = await eventually(
        `${name}'s deployments to end`,
        async () => {
          const list = (await call(kiln, 'GET', `/environments/${name}/deployments?limit=100`)).body
            .deployments;
          return list.some((d: { status: string }) => d.status === 'queued' || d.status === 'running')
            ? undefined
            : list;
        },
        300_000,
      ).catch(async (error: Error) => {
        // What was left unfinished, and what Kiln said last, for whoever reads the failure.
        const list = (await call(kiln, 'GET', `/environments/${name}/deployments?limit=100`)).body
          .deployments;
        const unfinished = list.filter((d: { status: string }) => ['queued', 'running'].includes(d.status));
        throw new Error(
          `${error.message}\nunfinished: ${JSON.stringify(unfinished)}\nKiln's last output:\n${kiln.output().slice(-8000)}`,
        );
      });
      const environment = (await call(kiln, 'GET', `/environments/${name}`)).body;
      assert.equal(environment.liveStack?.version, newest.commit, `${name} runs its newest commit`);
      assert.equal(await fetchText(environment.endpoint), `sample-app ${newest.commit}\n`);

      const started = deployments
        .filter((d) => d.trigger === 'git-push' && d.startedAt)
        .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
      deploymentsStarted += started.length;
      const versions = started.map((d) => d.version as string);
      assert.equal(new Set(versions).size, versions.length, `${name}: no commit deployed twice`);
      for (let i = 1; i < versions.length; i++) {
        assert.ok(
          (commitTime.get(versions[i] as string) ?? 0) > (commitTime.get(versions[i - 1] as string) ?? 0),
          `${name}: ${versions[i]} started after the newer ${versions[i - 1]}`,
        );
      }
      assert.ok(
        started.every((d) => d.status === 'succeeded'),
        `${name}: ${started.map((d) => d.status)}`,
      );
    }
    assert.deepEqual(await realStateViolations(dataDir, environments), []);
    t.diagnostic(
      `${deploymentsStarted} deployments started for ${pushes.length} pushes; killed with ${killedWithInFlight} in flight`,
    );
    // Coalescing at work: far fewer deployments than pushes.
    assert.ok(
      deploymentsStarted < pushes.length / 2,
      `${deploymentsStarted} deployments for ${pushes.length} pushes`,
    );
  });
});
