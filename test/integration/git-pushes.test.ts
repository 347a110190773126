import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sign } from '@octokit/webhooks-methods';
import type { PushEvent } from '@octokit/webhooks-types';
import { localLambdaContext } from '../../functions/adapters/local/lambda-context.ts';
import { LocalPushQueue } from '../../functions/adapters/local/local-push-queue.ts';
import { LocalQueue } from '../../functions/adapters/local/local-queue.ts';
import { ingestPush, previewName } from '../../functions/core/ingestion.ts';
import type { Push } from '../../functions/core/pushes.ts';
import { handler as ingestPushes } from '../../functions/handlers/queues/ingestPushes.ts';
import { PUSH_QUEUE } from '../../functions/manifest.ts';
import { normalizeGitHubPush } from '../../functions/shared/push-events.ts';
import { DEFAULT_GITHUB_WEBHOOK_SECRET } from '../../infra/local/config.ts';
import type { Kiln } from '../../infra/local/runtime.ts';
import {
  CALLER_ARN,
  CODECOMMIT_COMMITS,
  codeCommitBranchCreated,
  codeCommitBranchDeleted,
  codeCommitBranchUpdated,
  codeCommitTagCreated,
  commitOf,
  githubBranchCreated,
  githubBranchDeleted,
  githubBranchUpdated,
  githubForcedPush,
  githubPush,
  githubTagCreated,
  INITIAL_COMMIT,
  NEXT_COMMIT,
} from '../fixtures/push-events.ts';
import { startTestKiln } from '../support/embedded-kiln.ts';
import { deliver } from '../support/github.ts';
import {
  awaitDeployment,
  call,
  eventually,
  FREEZE_MANAGER_TOKEN,
  fetchText,
  OTHER_TEAM_TOKEN,
  processesOfStack,
  quickEnvironmentBody,
  removeDataDir,
} from '../support/kiln-process.ts';

const HELLO_WORLD = 'Codertocat/Hello-World';
const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

/**
 * Issue 8 through the embedded runtime: signed GitHub deliveries over HTTP into the real gateway and
 * webhook handler, CodeCommit events on the embedded default bus, the embedded FIFO queue and the real
 * consumer, real deployments of the sample app. Every outcome is read back from the API
 * (`/pushes`, `/deployments`), the environment's endpoint and the processes on this host.
 */
describe('Git pushes', { timeout: 300_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;

  before(async () => {
    ({ kiln, dataDir } = await startTestKiln('kiln-pushes-'));
  });

  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  /** Creates an environment following a branch and waits for its first deployment. */
  async function bind(
    name: string,
    source: { provider: 'github' | 'codecommit'; repository: string; branch: string },
  ) {
    const created = await call(kiln, 'PUT', `/environments/${name}`, {
      body: { team: 'platform', tier: 'dev', spec: quickEnvironmentBody('v0').spec, source },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.source, source);
    await awaitDeployment(kiln, name, created.body.deploymentId);
  }

  // biome-ignore lint/suspicious/noExplicitAny: records are inspected field by field
  async function pushesOf(name: string): Promise<any[]> {
    const response = await call(kiln, 'GET', `/environments/${name}/pushes?limit=100`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.pushes;
  }

  /** The record of a delivery's first arrival at the environment, once the consumer has written it. */
  async function recordOf(name: string, deliveryId: string) {
    return eventually(`the push ${deliveryId} recorded for ${name}`, async () =>
      (await pushesOf(name)).find((record) => record.deliveryId === deliveryId && !record.arrival),
    );
  }

  // biome-ignore lint/suspicious/noExplicitAny: deployments are inspected field by field
  async function deploymentsOf(name: string): Promise<any[]> {
    return (await call(kiln, 'GET', `/environments/${name}/deployments?limit=100`)).body.deployments;
  }

  /** Resolves once the push queue holds nothing, visible or in flight: every push was processed. */
  async function drained() {
    await eventually('the push queue to drain', async () => {
      const counts = await kiln.sources.queue(PUSH_QUEUE).counts();
      return counts.visible === 0 && counts.inFlight === 0 ? true : undefined;
    });
  }

  async function endpointOf(name: string): Promise<string> {
    return (await call(kiln, 'GET', `/environments/${name}`)).body.endpoint;
  }

  describe('to a bound GitHub branch', () => {
    const ENV = 'gp-main';
    const first = { commit: commitOf('gp-main-1'), committedAt: minutesAgo(30) };
    let firstDelivery: string;
    let firstPayload: PushEvent;

    before(() => bind(ENV, { provider: 'github', repository: HELLO_WORLD, branch: 'main' }));

    it('deploys the pushed commit: the deployment names the push, the endpoint serves the commit', async () => {
      firstPayload = githubPush({ branch: 'main', ...first, pusher: 'octocat' });
      const response = await deliver(kiln, firstPayload);
      firstDelivery = response.deliveryId;
      assert.equal(response.status, 202, JSON.stringify(response.body));
      assert.deepEqual(response.body.accepted, {
        repository: HELLO_WORLD,
        branch: 'main',
        change: 'updated',
        commit: first.commit,
      });

      const record = await recordOf(ENV, firstDelivery);
      assert.equal(record.outcome, 'deployed');
      assert.equal(record.commit, first.commit);
      assert.equal(record.pusher, 'octocat');
      const deployment = await awaitDeployment(kiln, ENV, record.deploymentId);
      assert.equal(deployment.status, 'succeeded');
      assert.equal(deployment.version, first.commit);
      assert.equal(deployment.trigger, 'git-push');
      assert.equal(deployment.actor, 'octocat');
      assert.deepEqual(deployment.push, {
        provider: 'github',
        repository: HELLO_WORLD,
        branch: 'main',
        commit: first.commit,
        deliveryId: firstDelivery,
      });
      const environment = (await call(kiln, 'GET', `/environments/${ENV}`)).body;
      assert.equal(environment.spec.version, first.commit);
      assert.deepEqual(environment.sourceHead, {
        commit: first.commit,
        committedAt: first.committedAt,
        deliveryId: firstDelivery,
      });
      assert.equal(await fetchText(environment.endpoint), `sample-app ${first.commit}\n`);
    });

    it('records a delivery that arrives again as a duplicate, each time, and deploys nothing more', async () => {
      const before = await deploymentsOf(ENV);
      for (let i = 0; i < 2; i++) {
        const again = await deliver(kiln, firstPayload, { deliveryId: firstDelivery });
        assert.equal(again.status, 202);
      }
      const duplicates = await eventually('both arrivals recorded', async () => {
        const found = (await pushesOf(ENV)).filter((r) => r.deliveryId === firstDelivery && r.arrival);
        return found.length === 2 ? found : undefined;
      });
      for (const duplicate of duplicates) {
        assert.equal(duplicate.outcome, 'duplicate');
        assert.match(duplicate.reason, /processed on its first arrival/);
      }
      await drained();
      assert.deepEqual(await deploymentsOf(ENV), before);
    });

    it('records a push older than the followed one as stale, and the followed commit pushed again too', async () => {
      const before = await deploymentsOf(ENV);
      const older = await deliver(
        kiln,
        githubPush({ branch: 'main', commit: commitOf('gp-main-0'), committedAt: minutesAgo(90) }),
      );
      const again = await deliver(
        kiln,
        githubPush({ branch: 'main', commit: first.commit, committedAt: first.committedAt }),
      );
      const olderRecord = await recordOf(ENV, older.deliveryId);
      assert.equal(olderRecord.outcome, 'stale');
      assert.match(olderRecord.reason, new RegExp(`follows ${first.commit}`));
      const againRecord = await recordOf(ENV, again.deliveryId);
      assert.equal(againRecord.outcome, 'stale');
      assert.deepEqual(await deploymentsOf(ENV), before);
      assert.equal(await fetchText(await endpointOf(ENV)), `sample-app ${first.commit}\n`);
    });

    it('lets a force-push go back to an older commit', async () => {
      const back = { commit: commitOf('gp-main-back'), committedAt: minutesAgo(120) };
      const forced = await deliver(kiln, githubPush({ branch: 'main', ...back, forced: true }));
      const record = await recordOf(ENV, forced.deliveryId);
      assert.equal(record.outcome, 'deployed');
      assert.equal((await awaitDeployment(kiln, ENV, record.deploymentId)).status, 'succeeded');
      assert.equal(await fetchText(await endpointOf(ENV)), `sample-app ${back.commit}\n`);
    });

    it('records a push during a refusing freeze as ignored, naming the freeze, and deploys nothing', async () => {
      const freeze = await call(kiln, 'PUT', '/freezes/gp-freeze', {
        token: FREEZE_MANAGER_TOKEN,
        body: {
          team: 'platform',
          selector: { environments: [ENV] },
          start: minutesAgo(1),
          end: new Date(Date.now() + 3_600_000).toISOString(),
          reason: 'release week',
        },
      });
      assert.equal(freeze.status, 201, JSON.stringify(freeze.body));
      const before = await deploymentsOf(ENV);
      const frozen = await deliver(kiln, githubPush({ branch: 'main', commit: commitOf('gp-main-frozen') }));
      const record = await recordOf(ENV, frozen.deliveryId);
      assert.equal(record.outcome, 'ignored');
      assert.match(record.reason, /frozen by gp-freeze until .* \(release week\)/);
      assert.deepEqual(await deploymentsOf(ENV), before);
      const removed = await call(kiln, 'DELETE', '/freezes/gp-freeze', { token: FREEZE_MANAGER_TOKEN });
      assert.equal(removed.status, 200);
    });

    it('leaves a bound environment running when its branch is deleted, saying so', async () => {
      const deleted = await deliver(
        kiln,
        githubPush({ branch: 'main', change: 'deleted', commit: commitOf('gp-main-back') }),
      );
      const record = await recordOf(ENV, deleted.deliveryId);
      assert.equal(record.outcome, 'ignored');
      assert.match(record.reason, /keeps running/);
      assert.equal((await call(kiln, 'GET', `/environments/${ENV}`)).body.status, 'live');
    });

    it('refuses unsigned, forged and tampered deliveries with 401 problem+json, queueing nothing', async () => {
      await drained();
      const records = await pushesOf(ENV);
      const environment = (await call(kiln, 'GET', `/environments/${ENV}`)).body;
      const payload = githubPush({ branch: 'main', commit: commitOf('gp-main-forged') });
      const body = JSON.stringify(payload);
      const attempts = [
        await deliver(kiln, payload, { signature: null }),
        await deliver(kiln, payload, { secret: 'not-the-secret' }),
        await deliver(kiln, payload, { signature: `sha256=${'0'.repeat(64)}` }),
        await deliver(kiln, payload, { signature: 'sha1=0123456789abcdef0123456789abcdef01234567' }),
        // Signed, then changed on the way: the signature no longer matches the body.
        await deliver(kiln, payload, {
          rawBody: body.replace(payload.after, commitOf('gp-main-evil')),
          signature: await sign(DEFAULT_GITHUB_WEBHOOK_SECRET, body),
        }),
      ];
      for (const response of attempts) {
        assert.equal(response.status, 401, JSON.stringify(response.body));
        assert.equal(response.contentType, 'application/problem+json');
        assert.match(response.body.detail, /X-Hub-Signature-256/);
      }
      const counts = await kiln.sources.queue(PUSH_QUEUE).counts();
      assert.deepEqual(counts, { visible: 0, inFlight: 0 }, 'nothing was queued');
      assert.deepEqual(await pushesOf(ENV), records);
      assert.deepEqual((await call(kiln, 'GET', `/environments/${ENV}`)).body, environment);
    });
  });

  describe('the webhook', () => {
    /** A delivery the webhook answers without queueing anything. */
    async function answered(delivery: Parameters<typeof deliver>[2], payload: unknown = {}) {
      const response = await deliver(kiln, payload, delivery);
      assert.deepEqual(await kiln.sources.queue(PUSH_QUEUE).counts(), { visible: 0, inFlight: 0 });
      return response;
    }

    before(drained);

    it('answers ping with 200', async () => {
      const response = await answered({ event: 'ping' }, { zen: 'Design for failure.', hook_id: 1 });
      assert.equal(response.status, 200);
      assert.equal(response.body.pong, true);
    });

    it('answers events other than push with 202, ignored, saying so', async () => {
      const response = await answered({ event: 'issues' }, { action: 'opened' });
      assert.equal(response.status, 202);
      assert.match(response.body.ignored, /push events only, not issues/);
    });

    it('answers a tag push (a real delivery) with 202, ignored: only branches deploy', async () => {
      const response = await answered({}, githubTagCreated());
      assert.equal(response.status, 202);
      assert.match(response.body.ignored, /only branch pushes/);
    });

    it('refuses a form-encoded push (415), a body that is not JSON or not a push (400), a missing delivery id (400)', async () => {
      const form = await answered({
        contentType: 'application/x-www-form-urlencoded',
        rawBody: 'payload=%7B%7D',
      });
      assert.equal(form.status, 415);
      assert.match(form.body.detail, /application\/json/);
      const notJson = await answered({ rawBody: '{"ref": ' });
      assert.equal(notJson.status, 400);
      assert.equal(notJson.body.detail, 'the push payload is not valid JSON');
      const notPush = await answered({}, { ref: 'refs/heads/main' });
      assert.equal(notPush.status, 400);
      assert.match(notPush.body.detail, /before/);
      const noDelivery = await answered({ deliveryId: '' }, githubBranchUpdated());
      assert.equal(noDelivery.status, 400);
      assert.match(noDelivery.body.detail, /X-GitHub-Delivery/);
    });
  });

  describe('real GitHub payloads (@octokit/webhooks-examples)', () => {
    const ENV = 'hello-master';

    before(() => bind(ENV, { provider: 'github', repository: HELLO_WORLD, branch: 'master' }));

    const cases: { name: string; payload: () => PushEvent; outcome: string; commit?: string }[] = [
      { name: 'branch created', payload: githubBranchCreated, outcome: 'deployed', commit: INITIAL_COMMIT },
      { name: 'branch updated', payload: githubBranchUpdated, outcome: 'deployed', commit: NEXT_COMMIT },
      { name: 'the same commit force-pushed', payload: githubForcedPush, outcome: 'stale' },
      {
        name: 'branch deleted',
        payload: () => ({ ...githubBranchDeleted(), ref: 'refs/heads/master' }),
        outcome: 'ignored',
      },
    ];
    for (const { name, payload, outcome, commit } of cases) {
      it(`${name} → ${outcome}`, async () => {
        const response = await deliver(kiln, payload());
        assert.equal(response.status, 202, JSON.stringify(response.body));
        const record = await recordOf(ENV, response.deliveryId);
        assert.equal(record.outcome, outcome, record.reason);
        if (commit) {
          assert.equal((await awaitDeployment(kiln, ENV, record.deploymentId)).status, 'succeeded');
          assert.equal(await fetchText(await endpointOf(ENV)), `sample-app ${commit}\n`);
        }
      });
    }

    it('a deleted branch nobody follows concerns no environment', async () => {
      const response = await deliver(kiln, githubBranchDeleted());
      assert.equal(response.status, 202);
      await drained();
      assert.ok(!(await pushesOf(ENV)).some((record) => record.deliveryId === response.deliveryId));
    });
  });

  describe('CodeCommit events on the default bus', () => {
    const ENV = 'demo-mybranch';

    before(() => bind(ENV, { provider: 'codecommit', repository: 'MyDemoRepo', branch: 'myBranch' }));

    /** Emits the event as CodeCommit does (a service event, with its own id) and returns that id. */
    function emit(event: ReturnType<typeof codeCommitBranchCreated>): string {
      return kiln.sources.defaultBus.emitServiceEvent({
        source: event.source,
        detailType: event['detail-type'],
        detail: event.detail,
        resources: event.resources,
      });
    }

    const cases = [
      {
        name: 'referenceCreated',
        event: codeCommitBranchCreated,
        outcome: 'deployed',
        commit: CODECOMMIT_COMMITS.DESTINATION_COMMIT,
      },
      {
        name: 'referenceUpdated',
        event: codeCommitBranchUpdated,
        outcome: 'deployed',
        commit: CODECOMMIT_COMMITS.MERGE_COMMIT,
      },
      { name: 'referenceDeleted', event: codeCommitBranchDeleted, outcome: 'ignored' },
    ];
    for (const { name, event, outcome, commit } of cases) {
      it(`${name} → ${outcome}`, async () => {
        const eventId = emit(event());
        const record = await recordOf(ENV, eventId);
        assert.equal(record.outcome, outcome, record.reason);
        assert.equal(record.provider, 'codecommit');
        assert.equal(record.pusher, CALLER_ARN);
        if (commit) {
          const deployment = await awaitDeployment(kiln, ENV, record.deploymentId);
          assert.equal(deployment.status, 'succeeded');
          assert.equal(deployment.trigger, 'git-push');
          assert.equal(deployment.push.commit, commit);
          assert.equal(await fetchText(await endpointOf(ENV)), `sample-app ${commit}\n`);
        }
      });
    }

    it('a tag event reaches nothing', async () => {
      const before = await pushesOf(ENV);
      emit(codeCommitTagCreated());
      await kiln.sources.defaultBus.waitForIdle(10_000);
      await drained();
      assert.deepEqual(await pushesOf(ENV), before);
    });
  });

  describe('one batch of the consumer', () => {
    const ENV = 'gp-batch';
    const OTHER = 'gp-batch-other';

    before(async () => {
      await bind(ENV, { provider: 'github', repository: HELLO_WORLD, branch: 'batch' });
      await bind(OTHER, { provider: 'github', repository: HELLO_WORLD, branch: 'batch-other' });
    });

    it('deploys only the newest of the pushes to a branch, records the others superseded, and fails only a malformed message', async () => {
      // Its own queue, which nothing polls: the batch is exactly what this test sends.
      const queue = await LocalQueue.open({
        name: 'batch-test.fifo',
        fifo: true,
        visibilityTimeoutSeconds: 60,
      });
      const pushes = new LocalPushQueue(queue);
      const push = (branch: string, seed: string, minutes: number): Push => {
        const normalized = normalizeGitHubPush(
          githubPush({ branch, commit: commitOf(seed), committedAt: minutesAgo(minutes) }),
          crypto.randomUUID(),
          new Date().toISOString(),
        );
        assert.ok(!('ignored' in normalized));
        return normalized;
      };
      // Shuffled in transit: the newest commit is not the last delivered.
      const middle = push('batch', 'b-2', 20);
      const newest = push('batch', 'b-3', 10);
      const oldest = push('batch', 'b-1', 30);
      const other = push('batch-other', 'o-1', 5);
      for (const p of [middle, newest, oldest, other]) await pushes.enqueue(p);
      const { messageId: malformed } = await queue.send({
        body: '{"push": {"provider": "github"}}',
        groupId: 'malformed',
        deduplicationId: 'malformed-1',
      });
      const records = await queue.receive(10);
      assert.equal(records.length, 5);
      const before = (await deploymentsOf(ENV)).length;

      const response = await ingestPushes(
        { Records: records },
        localLambdaContext('kiln-ingestPushes', 60_000),
      );

      assert.deepEqual(response, { batchItemFailures: [{ itemIdentifier: malformed }] });
      const outcomes = new Map((await pushesOf(ENV)).map((r) => [r.deliveryId, r]));
      assert.equal(outcomes.get(newest.deliveryId)?.outcome, 'deployed');
      for (const superseded of [middle, oldest]) {
        assert.equal(outcomes.get(superseded.deliveryId)?.outcome, 'superseded');
        assert.match(outcomes.get(superseded.deliveryId)?.reason, new RegExp(newest.commit));
      }
      const deployments = await deploymentsOf(ENV);
      assert.equal(deployments.length, before + 1, 'one deployment for the three pushes');
      assert.equal(deployments[0].version, newest.commit);
      assert.equal((await recordOf(OTHER, other.deliveryId)).outcome, 'deployed');
      await awaitDeployment(kiln, ENV, deployments[0].id);
      await queue.close();
    });
  });

  describe('a consumer that crashes halfway through a push', () => {
    const ENV = 'gp-crash';

    before(() => bind(ENV, { provider: 'github', repository: HELLO_WORLD, branch: 'crash' }));

    it('is finished by whichever arrival of the delivery comes next, and the push is recorded once as received', async () => {
      const payload = githubPush({
        branch: 'crash',
        commit: commitOf('crash-1'),
        committedAt: minutesAgo(1),
      });
      const deliveryId = crypto.randomUUID();
      const firstArrival = normalizeGitHubPush(payload, deliveryId, minutesAgo(2));
      const redelivery = normalizeGitHubPush(payload, deliveryId, new Date().toISOString());
      assert.ok(!('ignored' in firstArrival) && !('ignored' in redelivery));
      // The first arrival deploys and records, then dies before marking the delivery processed.
      const dying = new Proxy(kiln.ports.store, {
        get: (store, property) =>
          property === 'finishDelivery'
            ? () => Promise.reject(new Error('power cut'))
            : Reflect.get(store, property, store).bind(store),
      });
      await assert.rejects(
        ingestPush({ ...kiln.ports, store: dying }, firstArrival, { messageId: 'm-first' }),
        /power cut/,
      );
      // GitHub's redelivery (another message, a later arrival time) comes before the first one's retry.
      await ingestPush(kiln.ports, redelivery, { messageId: 'm-redelivered' });
      await ingestPush(kiln.ports, firstArrival, { messageId: 'm-first' });

      const records = (await pushesOf(ENV)).filter((record) => record.deliveryId === deliveryId);
      const received = records.filter((record) => !record.arrival);
      assert.equal(received.length, 1, JSON.stringify(records));
      assert.equal(received[0].receivedAt, firstArrival.receivedAt);
      assert.equal(received[0].outcome, 'deployed');
      assert.deepEqual(
        records.filter((record) => record.arrival).map((record) => [record.arrival, record.outcome]),
        [['m-first', 'duplicate']],
      );
      const deployments = (await deploymentsOf(ENV)).filter((d) => d.push?.deliveryId === deliveryId);
      assert.equal(deployments.length, 1);
      await awaitDeployment(kiln, ENV, deployments[0].id);
    });
  });

  describe('preview environments', () => {
    const TEMPLATE = 'web';
    const LOGIN = 'feature/login';
    const preview = previewName(TEMPLATE, LOGIN);
    const template = {
      team: 'platform',
      tier: 'dev',
      source: { provider: 'github', repository: HELLO_WORLD, branches: 'feature/*' },
      spec: quickEnvironmentBody('template').spec,
    };

    it('PUT /templates/{name} creates a template of the caller’s team; others can neither see nor replace it', async () => {
      const created = await call(kiln, 'PUT', `/templates/${TEMPLATE}`, { body: template });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.headers.get('etag'), '"1"');
      assert.equal((await call(kiln, 'GET', `/templates/${TEMPLATE}`)).body.source.branches, 'feature/*');
      const listed = await call(kiln, 'GET', '/templates');
      assert.deepEqual(
        listed.body.templates.map((t: { name: string }) => t.name),
        [TEMPLATE],
      );
      const foreign = await call(kiln, 'GET', `/templates/${TEMPLATE}`, { token: OTHER_TEAM_TOKEN });
      assert.ok([403, 404].includes(foreign.status), String(foreign.status));
      const taken = await call(kiln, 'PUT', `/templates/${TEMPLATE}`, {
        token: OTHER_TEAM_TOKEN,
        body: { ...template, team: 'other' },
      });
      assert.ok([403, 404, 409].includes(taken.status), String(taken.status));
      assert.deepEqual(
        (await call(kiln, 'GET', '/templates', { token: OTHER_TEAM_TOKEN })).body.templates,
        [],
      );
    });

    it('refuses a bad template name, glob, repository or field with 400 problem+json', async () => {
      const bad = [
        ['/templates/x', template, /3-20 characters/],
        ['/templates/a-name-far-too-long-for-previews', template, /3-20 characters/],
        [
          '/templates/ok-name',
          { ...template, source: { ...template.source, branches: 'feature/[x' } },
          /branch glob/,
        ],
        [
          '/templates/ok-name',
          { ...template, source: { ...template.source, repository: '../etc' } },
          /repository/,
        ],
        ['/templates/ok-name', { ...template, extra: 1 }, /extra/],
      ] as const;
      for (const [path, body, detail] of bad) {
        const response = await call(kiln, 'PUT', path, { body });
        assert.equal(response.status, 400, `${path}: ${JSON.stringify(response.body)}`);
        assert.equal(response.headers.get('content-type'), 'application/problem+json');
        assert.match(JSON.stringify(response.body), detail);
      }
      assert.equal((await call(kiln, 'GET', '/templates/ok-name')).status, 404);
    });

    let liveStack: string;

    it('a push creating a matching branch creates its preview environment, which serves the commit', async () => {
      const commit = commitOf('login-1');
      const response = await deliver(kiln, githubPush({ branch: LOGIN, change: 'created', commit }));
      const record = await recordOf(preview, response.deliveryId);
      assert.equal(record.outcome, 'deployed');
      assert.equal((await awaitDeployment(kiln, preview, record.deploymentId)).status, 'succeeded');
      const environment = (await call(kiln, 'GET', `/environments/${preview}`)).body;
      assert.equal(environment.template, TEMPLATE);
      assert.equal(environment.team, 'platform');
      assert.deepEqual(environment.source, { provider: 'github', repository: HELLO_WORLD, branch: LOGIN });
      assert.equal(environment.spec.version, commit);
      assert.equal(await fetchText(environment.endpoint), `sample-app ${commit}\n`);
      liveStack = environment.liveStack.stackId;
      assert.ok((await processesOfStack(liveStack)).length > 0);
    });

    it('a push to a branch the glob does not match creates nothing', async () => {
      await deliver(kiln, githubPush({ branch: 'feature/a/b', change: 'created', commit: commitOf('ab') }));
      await deliver(kiln, githubPush({ branch: 'main-feature', change: 'created', commit: commitOf('mf') }));
      await drained();
      for (const branch of ['feature/a/b', 'main-feature']) {
        assert.equal((await call(kiln, 'GET', `/environments/${previewName(TEMPLATE, branch)}`)).status, 404);
      }
    });

    it('deleting the branch tears the preview environment down: its processes are gone', async () => {
      const response = await deliver(
        kiln,
        githubPush({ branch: LOGIN, change: 'deleted', commit: commitOf('login-1') }),
      );
      const record = await recordOf(preview, response.deliveryId);
      assert.equal(record.outcome, 'deployed');
      assert.match(record.reason, /torn down/);
      const teardown = await awaitDeployment(kiln, preview, record.deploymentId);
      assert.equal(teardown.action, 'teardown');
      assert.equal(teardown.status, 'succeeded');
      assert.equal((await call(kiln, 'GET', `/environments/${preview}`)).body.status, 'deleted');
      assert.deepEqual(await processesOfStack(liveStack), []);
    });

    it('the branch pushed again brings its preview environment back', async () => {
      const commit = commitOf('login-2');
      const response = await deliver(kiln, githubPush({ branch: LOGIN, change: 'created', commit }));
      const record = await recordOf(preview, response.deliveryId);
      assert.equal(record.outcome, 'deployed');
      assert.equal((await awaitDeployment(kiln, preview, record.deploymentId)).status, 'succeeded');
      const environment = (await call(kiln, 'GET', `/environments/${preview}`)).body;
      assert.equal(environment.status, 'live');
      assert.equal(await fetchText(environment.endpoint), `sample-app ${commit}\n`);
    });

    it('DELETE /templates/{name} stops new previews; existing ones stay', async () => {
      const deleted = await call(kiln, 'DELETE', `/templates/${TEMPLATE}`);
      assert.equal(deleted.status, 200);
      assert.equal((await call(kiln, 'GET', `/templates/${TEMPLATE}`)).status, 404);
      await deliver(
        kiln,
        githubPush({ branch: 'feature/late', change: 'created', commit: commitOf('late') }),
      );
      await drained();
      assert.equal(
        (await call(kiln, 'GET', `/environments/${previewName(TEMPLATE, 'feature/late')}`)).status,
        404,
      );
      assert.equal((await call(kiln, 'GET', `/environments/${preview}`)).body.status, 'live');
    });
  });
});
