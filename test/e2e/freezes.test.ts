import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { type BusListener, type ReceivedEvent, startBusListener } from '../support/bus-listener.ts';
import {
  APPROVER_TOKEN,
  awaitApprovalRequest,
  awaitDeployment,
  call,
  eventually,
  FREEZE_MANAGER_TOKEN,
  fetchText,
  type KilnProcess,
  quickEnvironmentBody,
  removeDataDir,
  startKilnProcess,
} from '../support/kiln-process.ts';
import { awaitInvariants } from '../support/real-state.ts';

const ENV = 'shop-dev';
const OTHER_ENV = 'blog-dev';
/** How long an unanswered approval waits here before it expires. */
const APPROVAL_SECONDS = 8;

/** The fields every `Freeze Started` / `Freeze Ended` detail has (README "Governance events"). */
const FREEZE_FIELDS = ['eventId', 'freezeId', 'team', 'selector', 'mode', 'reason', 'start', 'end', 'at'];

/**
 * Issue 11's freeze windows and governance events on `npm start` (a child process, killed with SIGKILL
 * once), with a subscriber of its bus: a refusing freeze answers 409 and changes nothing, while sleep and
 * wake go on; break-glass passes it, scored high (so approved by a second person) and marked in the
 * audit trail and on the bus; a holding freeze keeps a deployment queued, holding no lease and
 * provisioning nothing, through a kill -9, until its window ends; every approval, freeze and break-glass
 * transition reaches the subscriber once, in the documented shape.
 */
describe('freeze windows', { timeout: 300_000 }, () => {
  let kiln: KilnProcess;
  let dataDir: string;
  let bus: BusListener;

  async function start() {
    kiln = await startKilnProcess(dataDir, {
      KILN_EVENT_WEBHOOKS: bus.url,
      // The freeze clock (and the other upkeep) every second.
      KILN_UPKEEP_PERIOD_SECONDS: '1',
      KILN_APPROVAL_TIMEOUT_SECONDS: String(APPROVAL_SECONDS),
    });
    dataDir = kiln.dataDir;
  }

  const putFreeze = (id: string, body: object) =>
    call(kiln, 'PUT', `/freezes/${id}`, {
      token: FREEZE_MANAGER_TOKEN,
      body: { team: 'platform', reason: 'release week', ...body },
    });
  const inSeconds = (seconds: number) => new Date(Date.now() + seconds * 1000).toISOString();
  const eventsOf = (detailType: string, filter: (event: ReceivedEvent) => boolean = () => true) =>
    bus.received.filter((event) => event['detail-type'] === detailType && filter(event));
  const forFreeze = (id: string) => (event: ReceivedEvent) => event.detail.freezeId === id;
  const deployments = async (name: string) =>
    (await call(kiln, 'GET', `/environments/${name}/deployments`)).body.deployments as { id: string }[];

  before(async () => {
    bus = await startBusListener();
    await start();
    for (const name of [ENV, OTHER_ENV]) {
      const put = await call(kiln, 'PUT', `/environments/${name}`, { body: quickEnvironmentBody('1.0.0') });
      assert.equal(put.status, 201, JSON.stringify(put.body));
      assert.equal((await awaitDeployment(kiln, name, put.body.deploymentId)).status, 'succeeded');
    }
  });

  after(async () => {
    await kiln?.stop();
    if (dataDir) await removeDataDir(dataDir);
    await bus?.close();
  });

  it('a refusing freeze answers 409 and changes nothing; sleep and wake go on; it ends when deleted', async () => {
    const made = await putFreeze('release-refuse', {
      selector: { environments: [ENV] },
      start: inSeconds(-1),
      end: inSeconds(3600),
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.mode, 'refuse', 'refuse is the default');
    assert.ok(made.body.active, 'its window covers now');

    const before = await call(kiln, 'GET', `/environments/${ENV}`);
    const history = await deployments(ENV);
    const post = await call(kiln, 'POST', `/environments/${ENV}/deployments`, { body: { version: '1.1.0' } });
    assert.equal(post.status, 409, JSON.stringify(post.body));
    assert.equal(post.headers.get('content-type'), 'application/problem+json');
    assert.match(post.body.detail, /frozen by release-refuse until .* \(release week\)/);
    const put = await call(kiln, 'PUT', `/environments/${ENV}`, { body: quickEnvironmentBody('1.1.0') });
    assert.equal(put.status, 409, JSON.stringify(put.body));
    const deleted = await call(kiln, 'DELETE', `/environments/${ENV}`);
    assert.equal(deleted.status, 409, 'a person’s delete is refused during a freeze');
    assert.deepEqual((await call(kiln, 'GET', `/environments/${ENV}`)).body, before.body, 'nothing changed');
    assert.deepEqual(await deployments(ENV), history, 'no deployment was made');

    // The freeze covers ENV only: another environment of the team deploys; break-glass there is refused.
    const elsewhere = await call(kiln, 'POST', `/environments/${OTHER_ENV}/deployments`, {
      body: { version: '1.1.0', breakGlass: { reason: 'there is no freeze here' } },
    });
    assert.equal(elsewhere.status, 409);
    assert.match(elsewhere.body.detail, /no freeze covers environment blog-dev/);

    // Sleep and wake are never blocked.
    for (const action of ['sleep', 'wake']) {
      const upkeep = await call(kiln, 'POST', `/environments/${ENV}/${action}`, { body: {} });
      assert.equal(upkeep.status, 202, `${action}: ${JSON.stringify(upkeep.body)}`);
      assert.equal((await awaitDeployment(kiln, ENV, upkeep.body.deploymentId)).status, 'succeeded');
    }

    assert.equal(
      (await call(kiln, 'DELETE', '/freezes/release-refuse', { token: FREEZE_MANAGER_TOKEN })).status,
      200,
    );
    const ended = await eventually('Freeze Ended', async () => {
      const events = eventsOf('Freeze Ended', forFreeze('release-refuse'));
      return events.length > 0 ? events : undefined;
    });
    assert.equal(ended[0]?.detail.endedBy, 'deleted');
    assert.equal(eventsOf('Freeze Started', forFreeze('release-refuse')).length, 1);
  });

  it('break-glass passes a refusing freeze: scored high, approved by a second person, marked in the audit trail and on the bus', async () => {
    assert.equal(
      (await putFreeze('release-glass', { start: inSeconds(-1), end: inSeconds(3600) })).status,
      201,
    );
    const reason = 'INC-42: checkout is down, hotfix';
    const post = await call(kiln, 'POST', `/environments/${ENV}/deployments`, {
      body: { version: '1.2.0', breakGlass: { reason } },
    });
    assert.equal(post.status, 202, JSON.stringify(post.body));
    const id = post.body.deploymentId as string;
    const waiting = await awaitApprovalRequest(kiln, ENV, id);
    assert.deepEqual(
      waiting.breakGlass.freezes.map((freeze: { id: string }) => freeze.id),
      ['release-glass'],
    );
    assert.equal(waiting.breakGlass.reason, reason);
    assert.ok(waiting.risk.terms.some((term: { term: string }) => term.term === 'break-glass'));
    assert.equal(waiting.risk.needsApproval, true, 'break-glass is high risk: a second person approves it');
    const approved = await call(kiln, 'POST', `/environments/${ENV}/deployments/${id}/approve`, {
      token: APPROVER_TOKEN,
      body: { comment: 'go, hotfix' },
    });
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal((await awaitDeployment(kiln, ENV, id)).status, 'succeeded');
    const endpoint = (await call(kiln, 'GET', `/environments/${ENV}`)).body.endpoint;
    assert.equal(await fetchText(endpoint), 'sample-app 1.2.0\n');

    const trail = (await call(kiln, 'GET', `/environments/${ENV}/audit?limit=100`)).body.events;
    const marked = trail.filter((event: { action: string }) => event.action === 'deployment.break-glass');
    assert.equal(marked.length, 1);
    assert.equal(marked[0].reason, reason);
    assert.deepEqual(marked[0].detail.freezes, ['release-glass']);

    const [used, ...more] = eventsOf('Break Glass Used', (event) => event.detail.deploymentId === id);
    assert.equal(more.length, 0, 'one Break Glass Used');
    assert.deepEqual(Object.keys(used?.detail ?? {}).sort(), [
      'actor',
      'at',
      'deploymentId',
      'environment',
      'eventId',
      'freezes',
      'reason',
      'team',
      'tier',
      'trigger',
      'version',
    ]);
    assert.equal(used?.detail.reason, reason);
    assert.deepEqual(
      used?.detail.freezes.map((freeze: { id: string }) => freeze.id),
      ['release-glass'],
    );
    const approvals = eventsOf('Deployment Approved', (event) => event.detail.deploymentId === id);
    assert.equal(approvals.length, 1, 'one Deployment Approved');
    assert.deepEqual(
      {
        by: approvals[0]?.detail.approvedBy,
        asked: approvals[0]?.detail.requestedBy,
        comment: approvals[0]?.detail.comment,
      },
      { by: 'approver', asked: waiting.actor, comment: 'go, hotfix' },
    );
    assert.equal(
      (await call(kiln, 'DELETE', '/freezes/release-glass', { token: FREEZE_MANAGER_TOKEN })).status,
      200,
    );
  });

  it('a holding freeze keeps a deployment queued, without lease or stack, through a kill -9, until its window ends', async () => {
    // Starts by the clock a few seconds from now: its start is announced when it comes, not when it is made.
    const made = await putFreeze('release-hold', {
      mode: 'hold',
      selector: { tiers: ['dev'] },
      start: inSeconds(3),
      end: inSeconds(25),
    });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.active, null);
    assert.equal(eventsOf('Freeze Started', forFreeze('release-hold')).length, 0);
    await eventually('the hold freeze to start', async () =>
      eventsOf('Freeze Started', forFreeze('release-hold')).length > 0 ? true : undefined,
    );

    const post = await call(kiln, 'POST', `/environments/${ENV}/deployments`, { body: { version: '1.3.0' } });
    assert.equal(post.status, 202, JSON.stringify(post.body));
    const id = post.body.deploymentId as string;
    const held = await eventually('the deployment to be held', async () => {
      const deployment = (await call(kiln, 'GET', `/environments/${ENV}/deployments/${id}`)).body;
      return deployment.hold ? deployment : undefined;
    });
    assert.equal(held.status, 'queued');
    assert.deepEqual(held.hold.freezes, ['release-hold']);
    assert.equal(held.hold.until, new Date(made.body.end).toISOString());

    kiln.child.kill('SIGKILL');
    await once(kiln.child, 'exit');
    await start();

    const environment = (await call(kiln, 'GET', `/environments/${ENV}`)).body;
    assert.equal(environment.deploymentInProgress, null, 'no lease is held while it is held');
    const stacks = (await call(kiln, 'GET', `/environments/${ENV}/stacks`)).body.stacks;
    assert.deepEqual(
      stacks
        .filter((stack: { status: string }) => stack.status !== 'decommissioned')
        .map((s: { version: string }) => s.version),
      ['1.2.0'],
      'nothing is provisioned while it is held',
    );
    const done = await awaitDeployment(kiln, ENV, id, 120_000);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.ok(Date.parse(done.startedAt) >= Date.parse(held.hold.until), 'it ran after the window');
    await awaitInvariants(dataDir, [ENV, OTHER_ENV]);

    const ended = await eventually('Freeze Ended', async () => {
      const events = eventsOf('Freeze Ended', forFreeze('release-hold'));
      return events.length > 0 ? events : undefined;
    });
    const [started, ...moreStarts] = eventsOf('Freeze Started', forFreeze('release-hold'));
    assert.equal(moreStarts.length, 0, 'one Freeze Started');
    assert.equal(ended.length, 1, 'one Freeze Ended');
    assert.deepEqual(Object.keys(started?.detail ?? {}).sort(), [...FREEZE_FIELDS].sort());
    assert.deepEqual(Object.keys(ended[0]?.detail ?? {}).sort(), [...FREEZE_FIELDS, 'endedBy'].sort());
    assert.equal(ended[0]?.detail.endedBy, 'over');
    assert.equal(ended[0]?.detail.end, new Date(made.body.end).toISOString());
    assert.deepEqual(started?.detail.selector, { tiers: ['dev'] });
    assert.equal(started?.detail.mode, 'hold');
  });

  it('announces approval outcomes once each: awaiting, rejected, expired', async () => {
    const body = quickEnvironmentBody('2.0.0');
    const risky = { ...body, spec: { ...body.spec, capacity: 50 } };
    const rejected = (await call(kiln, 'PUT', `/environments/${OTHER_ENV}`, { body: risky })).body
      .deploymentId;
    await awaitApprovalRequest(kiln, OTHER_ENV, rejected);
    const answer = await call(kiln, 'POST', `/environments/${OTHER_ENV}/deployments/${rejected}/reject`, {
      token: APPROVER_TOKEN,
      body: { comment: 'too big' },
    });
    assert.equal(answer.status, 200);
    assert.equal((await awaitDeployment(kiln, OTHER_ENV, rejected)).status, 'rejected');
    const expired = (
      await call(kiln, 'PUT', `/environments/${OTHER_ENV}`, {
        body: { ...risky, spec: { ...risky.spec, version: '2.0.1' } },
      })
    ).body.deploymentId;
    assert.equal((await awaitDeployment(kiln, OTHER_ENV, expired, 60_000)).status, 'expired');

    for (const [id, outcome] of [
      [rejected, 'rejected'],
      [expired, 'expired'],
    ]) {
      const statuses = eventsOf('Deployment Status Changed', (event) => event.detail.deploymentId === id).map(
        (event) => event.detail.status,
      );
      assert.deepEqual(statuses, ['queued', 'awaiting_approval', outcome], `${id}: ${statuses}`);
      assert.equal(eventsOf('Deployment Approved', (event) => event.detail.deploymentId === id).length, 0);
    }
  });
});
