import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import {
  awaitApprovalRequest,
  awaitDeployment,
  call,
  fetchText,
  type KilnProcess,
  quickEnvironmentBody,
  removeDataDir,
  startKilnProcess,
  TOKEN,
} from '../support/kiln-process.ts';
import { awaitInvariants } from '../support/real-state.ts';
import { SteadyLoad } from '../support/steady-load.ts';

const ENV = 'orders-prod';
/** alice and bob approve for platform; carol is a member; dave approves for another team. */
const TOKENS = {
  alice: 'alice-token',
  bob: 'bob-token',
  carol: 'carol-token',
  dave: 'dave-token',
};
const KILN_TOKENS = [
  `${TOKENS.alice}=platform:alice:approver`,
  `${TOKENS.bob}=platform:bob:approver`,
  `${TOKENS.carol}=platform:carol`,
  `${TOKENS.dave}=other:dave:approver`,
  // The test helpers' token: reads.
  `${TOKEN}=platform:reader`,
].join(',');
/** Long enough to answer in, short enough to see an unanswered approval expire. */
const APPROVAL_SECONDS = 12;

/**
 * Issue 11's approval gate on `npm start` (a child process, killed with SIGKILL once): a prod change near
 * a production data store scores above the threshold and waits for an approval in the deploy workflow's
 * callback Task, provisioning nothing and holding no lease; the person who asked cannot approve it, nor a
 * member without the role, nor another team's approver; a second approver's answer lets it run to
 * `succeeded`, a rejection ends it `rejected` with the old version serving throughout, and an unanswered
 * one expires.
 */
describe('approvals of risky changes', { timeout: 300_000 }, () => {
  let kiln: KilnProcess;
  let dataDir: string;
  let endpoint: string;
  const load = new SteadyLoad(20);

  async function start() {
    kiln = await startKilnProcess(dataDir, {
      KILN_TOKENS,
      KILN_APPROVAL_TIMEOUT_SECONDS: String(APPROVAL_SECONDS),
    });
    dataDir = kiln.dataDir;
  }

  function body(version: string) {
    return {
      ...quickEnvironmentBody(version),
      tier: 'prod',
      resources: [{ kind: 'datastore', name: 'orders-db' }],
    };
  }

  async function put(version: string, as: keyof typeof TOKENS) {
    const response = await call(kiln, 'PUT', `/environments/${ENV}`, {
      body: body(version),
      token: TOKENS[as],
    });
    assert.ok(response.status < 300, JSON.stringify(response.body));
    return response.body.deploymentId as string;
  }

  const awaitingApproval = (id: string) => awaitApprovalRequest(kiln, ENV, id, TOKENS.carol);

  function answer(id: string, decision: 'approve' | 'reject', as: keyof typeof TOKENS, comment?: string) {
    return call(kiln, 'POST', `/environments/${ENV}/deployments/${id}/${decision}`, {
      token: TOKENS[as],
      body: comment ? { comment } : {},
    });
  }

  async function stacks() {
    return (await call(kiln, 'GET', `/environments/${ENV}/stacks`, { token: TOKENS.carol })).body.stacks as {
      version: string;
      status: string;
    }[];
  }

  before(async () => {
    await start();
    const first = await put('1.0.0', 'alice');
    await awaitingApproval(first);
    assert.equal((await answer(first, 'approve', 'bob', 'first release')).status, 200);
    assert.equal((await awaitDeployment(kiln, ENV, first)).status, 'succeeded');
    endpoint = (await call(kiln, 'GET', `/environments/${ENV}`, { token: TOKENS.carol })).body.endpoint;
    load.start(endpoint);
  });

  after(async () => {
    await load.stop();
    await kiln?.stop();
    if (dataDir) await removeDataDir(dataDir);
  });

  it('waits for an approval without provisioning or holding the lease; only a second approver of the team may give it', async () => {
    const id = await put('2.0.0', 'alice');
    const waiting = await awaitingApproval(id);
    assert.equal(waiting.risk.needsApproval, true);
    assert.ok(waiting.risk.terms.some((t: { term: string; points: number }) => t.points === 100));
    assert.equal(waiting.approval.taskToken, undefined, 'the task token is never shown');
    const environment = (await call(kiln, 'GET', `/environments/${ENV}`, { token: TOKENS.carol })).body;
    assert.equal(environment.deploymentInProgress, null, 'no lease is held while it waits');
    assert.deepEqual(
      (await stacks()).map((s) => s.version),
      ['1.0.0'],
      'nothing is provisioned while it waits',
    );

    const self = await answer(id, 'approve', 'alice');
    assert.equal(self.status, 403, JSON.stringify(self.body));
    assert.match(self.body.detail, /two people/);
    assert.equal((await answer(id, 'approve', 'carol')).status, 403);
    assert.equal((await answer(id, 'approve', 'dave')).status, 403);
    assert.equal((await awaitingApproval(id)).status, 'awaiting_approval', 'the refusals changed nothing');

    const approved = await answer(id, 'approve', 'bob', 'looks good');
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    const done = await awaitDeployment(kiln, ENV, id);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    const step = done.steps.find((s: { name: string }) => s.name === 'Approval');
    assert.equal(step.detail, 'approved by bob: looks good');
    assert.equal(await fetchText(endpoint), 'sample-app 2.0.0\n');
    // Answered again: nothing changes; answered after it ran: 409.
    assert.equal((await answer(id, 'reject', 'bob', 'too late')).status, 409);
  });

  it('survives a kill -9 while it waits: the approval given after the restart lets it run', async () => {
    const id = await put('3.0.0', 'alice');
    await awaitingApproval(id);
    kiln.child.kill('SIGKILL');
    await once(kiln.child, 'exit');
    await start();
    await awaitingApproval(id);
    assert.equal((await answer(id, 'approve', 'bob')).status, 200);
    assert.equal((await awaitDeployment(kiln, ENV, id)).status, 'succeeded');
    assert.equal(await fetchText(endpoint), 'sample-app 3.0.0\n');
  });

  it('ends a rejected change `rejected` with the old version serving throughout', async () => {
    const id = await put('4.0.0', 'alice');
    await awaitingApproval(id);
    assert.equal(
      (
        await call(kiln, 'POST', `/environments/${ENV}/deployments/${id}/reject`, {
          token: TOKENS.bob,
          body: {},
        })
      ).status,
      400,
      'a rejection says why',
    );
    const rejected = await answer(id, 'reject', 'bob', 'not during the sale');
    assert.equal(rejected.status, 200, JSON.stringify(rejected.body));
    const done = await awaitDeployment(kiln, ENV, id);
    assert.equal(done.status, 'rejected', JSON.stringify(done));
    assert.match(done.error.message, /rejected by bob: not during the sale/);
    assert.deepEqual(
      (await stacks()).filter((s) => s.status === 'live').map((s) => s.version),
      ['3.0.0'],
    );
    assert.equal(await fetchText(endpoint), 'sample-app 3.0.0\n');
  });

  it('ends a change cancelled while it waits `cancelled` at once, not when its approval would expire', async () => {
    const id = await put('4.1.0', 'alice');
    await awaitingApproval(id);
    const cancelled = await call(kiln, 'POST', `/environments/${ENV}/deployments/${id}/cancel`, {
      token: TOKENS.alice,
    });
    assert.equal(cancelled.status, 202, JSON.stringify(cancelled.body));
    // Well before APPROVAL_SECONDS: the cancel sent the waiting task its answer.
    const done = await awaitDeployment(kiln, ENV, id, (APPROVAL_SECONDS / 2) * 1000);
    assert.equal(done.status, 'cancelled', JSON.stringify(done));
    assert.match(done.error.message, /cancelled by alice while it waited for approval/);
    assert.equal(await fetchText(endpoint), 'sample-app 3.0.0\n');
  });

  it('expires an unanswered approval', async () => {
    const id = await put('5.0.0', 'alice');
    await awaitingApproval(id);
    const done = await awaitDeployment(kiln, ENV, id, (APPROVAL_SECONDS + 30) * 1000);
    assert.equal(done.status, 'expired', JSON.stringify(done));
    assert.equal(await fetchText(endpoint), 'sample-app 3.0.0\n');
    await load.stop();
    assert.deepEqual(load.failures, [], 'no request failed');
    await awaitInvariants(dataDir, [ENV]);
  });
});
