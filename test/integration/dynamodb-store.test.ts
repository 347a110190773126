import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbStateStore } from '../../functions/adapters/aws/dynamodb-store.ts';
import { envKey, LIVE_SHARDS, liveIndexKey } from '../../functions/adapters/aws/table.ts';
import { LeaseHeldError, NotFoundError, VersionConflictError } from '../../functions/core/errors.ts';
import { newDeploymentId } from '../../functions/core/ids.ts';
import type { Deployment, Environment, Spec, Stack } from '../../functions/core/types.ts';
import { startDatabase } from '../../infra/local/database.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';

const spec: Spec = {
  artifact: 'sample-app',
  version: '1.0.0',
  capacity: 2,
  env: { GREETING: 'hello' },
  healthCheck: {
    path: '/health',
    intervalSeconds: 1,
    healthyThreshold: 2,
    timeoutSeconds: 1,
    deadlineSeconds: 30,
  },
  strategy: { type: 'blue-green' },
  drainSeconds: 5,
};

/** Environment names are unique per test, so tests sharing one table never see each other's items. */
function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

function environment(overrides: Partial<Environment> = {}): Environment {
  return {
    name: uniqueName('env'),
    team: 'payments',
    tier: 'dev',
    spec,
    version: 1,
    generation: 0,
    status: 'pending',
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    ...overrides,
  };
}

function stack(environmentName: string, generation: number): Stack {
  return {
    environment: environmentName,
    stackId: `${environmentName}-v${String(generation).padStart(4, '0')}`,
    generation,
    deploymentId: `d-${generation}`,
    spec,
    status: 'provisioning',
    instances: [],
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
  };
}

function deployment(environmentName: string, requestedAt: Date): Deployment {
  return {
    id: newDeploymentId(requestedAt),
    environment: environmentName,
    action: 'deploy',
    generation: 1,
    trigger: 'api',
    actor: 'alice',
    status: 'queued',
    spec,
    requestedAt: requestedAt.toISOString(),
    steps: [],
  };
}

describe('DynamoDbStateStore', () => {
  let database: TestDatabase;
  let store: DynamoDbStateStore;

  before(async () => {
    database = await startTestDatabase();
    store = database.store;
  });

  after(async () => {
    await database.close();
  });

  describe('environments', () => {
    it('returns a created environment as given, without the table key or index attributes', async () => {
      const created = environment({ endpoint: 'http://127.0.0.1:8080' });
      await store.createEnvironment(created);

      assert.deepEqual(await store.getEnvironment(created.name), created);
    });

    it('stores an environment under ENV#<name>/META with its team-index keys', async () => {
      const created = environment();
      await store.createEnvironment(created);

      const { Item } = await database.documentClient.send(
        new GetCommand({ TableName: database.tableName, Key: envKey(created.name) }),
      );

      assert.equal(Item?.name, created.name);
      assert.equal(Item?.gsi1pk, `TEAM#${created.team}`);
      assert.equal(Item?.gsi1sk, `ENV#${created.name}`);
    });

    it('returns undefined for an environment that does not exist', async () => {
      assert.equal(await store.getEnvironment(uniqueName('missing')), undefined);
    });

    it('refuses to create an environment twice with VersionConflictError and keeps the first', async () => {
      const first = environment();
      await store.createEnvironment(first);

      await assert.rejects(store.createEnvironment({ ...first, tier: 'prod' }), (error) => {
        assert.ok(error instanceof VersionConflictError);
        assert.match(error.message, new RegExp(`environment ${first.name} already exists`));
        return true;
      });
      assert.deepEqual(await store.getEnvironment(first.name), first);
    });

    it('applies a desired-state change, bumps the version and returns the new environment', async () => {
      const created = environment({
        liveStackId: 'live-v0001',
        lease: { holder: 'd-1', acquiredAt: 'then' },
      });
      await store.createEnvironment(created);

      const updated = await store.updateDesiredState(created.name, 1, {
        tier: 'staging',
        generation: 1,
        updatedAt: '2025-01-02T00:00:00.000Z',
      });

      const expected = {
        ...created,
        tier: 'staging',
        generation: 1,
        version: 2,
        updatedAt: '2025-01-02T00:00:00.000Z',
      };
      assert.deepEqual(updated, expected);
      assert.deepEqual(await store.getEnvironment(created.name), expected);
    });

    it('rejects an update whose expected version is stale with VersionConflictError and changes nothing', async () => {
      const created = environment({ version: 3 });
      await store.createEnvironment(created);

      await assert.rejects(
        store.updateDesiredState(created.name, 2, { tier: 'prod', updatedAt: 'later' }),
        (error) => {
          assert.ok(error instanceof VersionConflictError);
          assert.match(error.message, /version 3/);
          assert.match(error.message, /expected version 2/);
          return true;
        },
      );
      assert.deepEqual(await store.getEnvironment(created.name), created);
    });

    it('rejects a desired-state change to a missing environment with NotFoundError', async () => {
      await assert.rejects(
        store.updateDesiredState(uniqueName('missing'), 1, { updatedAt: 'now' }),
        NotFoundError,
      );
    });

    it('writes only the fields of the change type, even when the object carries more', async () => {
      const created = environment();
      await store.createEnvironment(created);
      const smuggled = { updatedAt: 'now', version: 99, lease: { holder: 'intruder', acquiredAt: 'now' } };

      const updated = await store.updateDesiredState(created.name, 1, smuggled);

      assert.equal(updated.version, 2);
      assert.equal(updated.lease, undefined);
    });

    it("lists a team's environments through the team index, sorted by name, without other teams'", async () => {
      const team = uniqueName('team');
      const zulu = environment({ name: uniqueName('zulu'), team });
      const alpha = environment({ name: uniqueName('alpha'), team });
      await store.createEnvironment(zulu);
      await store.createEnvironment(alpha);
      await store.createEnvironment(environment({ team: uniqueName('other-team') }));

      assert.deepEqual(await store.listEnvironmentsByTeam(team), [alpha, zulu]);
    });

    it('moves an environment to its new team in the team index when its team changes', async () => {
      const [from, to] = [uniqueName('team'), uniqueName('team')];
      const moved = environment({ team: from });
      await store.createEnvironment(moved);

      await store.updateDesiredState(moved.name, 1, { team: to, updatedAt: 'now' });

      assert.deepEqual(await store.listEnvironmentsByTeam(from), []);
      assert.deepEqual(
        (await store.listEnvironmentsByTeam(to)).map((listed) => [listed.name, listed.team]),
        [[moved.name, to]],
      );
    });

    it('observed-state updates do not bump version; null removes a field', async () => {
      const created = environment({ status: 'live', liveStackId: 'old-v0001', endpoint: 'http://old' });
      await store.createEnvironment(created);

      await store.updateObservedState(created.name, {
        status: 'deleted',
        liveStackId: null,
        endpoint: null,
        deletedAt: '2025-01-03T00:00:00.000Z',
      });

      const { liveStackId: _live, endpoint: _endpoint, ...kept } = created;
      assert.deepEqual(await store.getEnvironment(created.name), {
        ...kept,
        status: 'deleted',
        deletedAt: '2025-01-03T00:00:00.000Z',
      });
    });

    it('rejects an observed-state update of a missing environment with NotFoundError and creates nothing', async () => {
      const name = uniqueName('missing');

      await assert.rejects(store.updateObservedState(name, { status: 'live' }), NotFoundError);
      await assert.rejects(store.updateObservedState(name, {}), NotFoundError);
      assert.equal(await store.getEnvironment(name), undefined);
    });
  });

  describe('lease', () => {
    it("lease: a second holder is refused with LeaseHeldError naming the holder; the same holder re-acquiring is a no-op; reclaimFrom takes over a dead holder's lease; release by a non-holder changes nothing", async () => {
      const created = environment();
      const { name } = created;
      await store.createEnvironment(created);
      const first = { holder: 'd-first', acquiredAt: '2025-01-01T00:00:00.000Z' };

      await store.acquireLease(name, first);
      await assert.rejects(
        store.acquireLease(name, { holder: 'd-second', acquiredAt: '2025-01-01T00:01:00.000Z' }),
        (error) => {
          assert.ok(error instanceof LeaseHeldError);
          assert.match(error.message, /being deployed by d-first/);
          return true;
        },
      );

      await store.acquireLease(name, { holder: 'd-first', acquiredAt: '2025-01-01T00:02:00.000Z' });
      assert.deepEqual((await store.getEnvironment(name))?.lease, first);

      await store.releaseLease(name, 'd-second');
      assert.deepEqual((await store.getEnvironment(name))?.lease, first);

      const reclaimed = { holder: 'd-third', acquiredAt: '2025-01-01T00:03:00.000Z' };
      await store.acquireLease(name, reclaimed, 'd-first');
      assert.deepEqual((await store.getEnvironment(name))?.lease, reclaimed);
    });

    it('releasing frees the lease for the next holder, and releasing again is a no-op', async () => {
      const created = environment();
      await store.createEnvironment(created);
      await store.acquireLease(created.name, { holder: 'd-1', acquiredAt: 'then' });

      await store.releaseLease(created.name, 'd-1');
      await store.releaseLease(created.name, 'd-1');
      await store.acquireLease(created.name, { holder: 'd-2', acquiredAt: 'now' });

      assert.deepEqual(await store.getEnvironment(created.name), {
        ...created,
        lease: { holder: 'd-2', acquiredAt: 'now' },
      });
    });

    it('takes and releases the lease in the same write as an observed change, and only the holder settles', async () => {
      const created = environment();
      const { name } = created;
      await store.createEnvironment(created);

      await store.acquireLease(name, { holder: 'd-1', acquiredAt: 'then' }, undefined, {
        status: 'deploying',
      });
      assert.equal((await store.getEnvironment(name))?.status, 'deploying');

      assert.equal(await store.releaseLease(name, 'd-other', { status: 'failed' }), false);
      assert.equal((await store.getEnvironment(name))?.status, 'deploying', 'a non-holder changes nothing');

      assert.equal(
        await store.releaseLease(name, 'd-1', { status: 'live', weights: { 'x-v0001': 100 } }),
        true,
      );
      const settled = await store.getEnvironment(name);
      assert.equal(settled?.status, 'live');
      assert.deepEqual(settled?.weights, { 'x-v0001': 100 });
      assert.equal(settled?.lease, undefined);
      assert.equal(
        await store.releaseLease(name, 'd-1', { status: 'failed' }),
        false,
        'releasing again is a no-op',
      );
      assert.equal((await store.getEnvironment(name))?.status, 'live');
    });

    it('refuses reclaimFrom when the lease is held by someone other than the dead holder', async () => {
      const created = environment();
      const { name } = created;
      await store.createEnvironment(created);
      await store.acquireLease(name, { holder: 'd-alive', acquiredAt: 'then' });

      await assert.rejects(
        store.acquireLease(name, { holder: 'd-new', acquiredAt: 'now' }, 'd-dead'),
        LeaseHeldError,
      );
      assert.equal((await store.getEnvironment(name))?.lease?.holder, 'd-alive');
    });

    it('rejects a lease on a missing environment with NotFoundError and creates nothing', async () => {
      const name = uniqueName('missing');

      await assert.rejects(store.acquireLease(name, { holder: 'd-1', acquiredAt: 'now' }), NotFoundError);
      await store.releaseLease(name, 'd-1');
      assert.equal(await store.getEnvironment(name), undefined);
    });
  });

  describe('stacks', () => {
    it('putStackIfAbsent returns the existing stack on a repeat', async () => {
      const { name } = environment();
      const original = stack(name, 7);
      assert.deepEqual(await store.putStackIfAbsent(original), original);

      const repeat = await store.putStackIfAbsent({ ...original, deploymentId: 'd-other', status: 'failed' });

      assert.deepEqual(repeat, original);
      assert.deepEqual(await store.getStack(name, 7), original);
    });

    it('lists the stacks of one environment, oldest generation first', async () => {
      const { name } = environment();
      for (const generation of [12, 3, 9]) await store.putStackIfAbsent(stack(name, generation));
      await store.putStackIfAbsent(stack(`${name}-other`, 1));

      assert.deepEqual(
        (await store.listStacks(name)).map((listed) => listed.generation),
        [3, 9, 12],
      );
    });

    it('updates a stack and returns the updated record', async () => {
      const { name } = environment();
      const original = stack(name, 1);
      await store.putStackIfAbsent(original);
      const instances = [{ id: 'i-1', address: 'http://127.0.0.1:9000', state: 'running' as const }];

      const updated = await store.updateStack(name, 1, { status: 'healthy', instances, updatedAt: 'now' });

      const expected = { ...original, status: 'healthy', instances, updatedAt: 'now' };
      assert.deepEqual(updated, expected);
      assert.deepEqual(await store.getStack(name, 1), expected);
    });

    it('rejects an update of a missing stack with NotFoundError and creates nothing', async () => {
      const { name } = environment();

      await assert.rejects(store.updateStack(name, 1, { status: 'live', updatedAt: 'now' }), NotFoundError);
      assert.equal(await store.getStack(name, 1), undefined);
    });
  });

  describe('deployments', () => {
    it('listDeployments returns newest first and honours the limit', async () => {
      const { name } = environment();
      const deployments = [0, 1, 2, 3].map((minute) =>
        deployment(name, new Date(Date.UTC(2025, 0, 1, 0, minute))),
      );
      for (const created of deployments) await store.createDeployment(created);
      await store.createDeployment(deployment(`${name}-other`, new Date(Date.UTC(2025, 0, 1, 1))));

      assert.deepEqual(await store.listDeployments(name, 3), [
        deployments[3],
        deployments[2],
        deployments[1],
      ]);
      assert.deepEqual(await store.listDeployments(name, 10), deployments.toReversed());
    });

    it('refuses a duplicate deployment id with VersionConflictError and keeps the first', async () => {
      const created = deployment(uniqueName('env'), new Date());
      await store.createDeployment(created);

      await assert.rejects(store.createDeployment({ ...created, actor: 'mallory' }), VersionConflictError);
      assert.deepEqual(await store.getDeployment(created.environment, created.id), created);
    });

    it('updates a deployment and returns the updated record', async () => {
      const created = deployment(uniqueName('env'), new Date());
      await store.createDeployment(created);
      const change = {
        status: 'failed' as const,
        endedAt: 'now',
        error: { name: 'StackNotHealthyError', message: 'no healthy instance' },
        warnings: ['old stack kept'],
      };

      const updated = await store.updateDeployment(created.environment, created.id, change);

      assert.deepEqual(updated, { ...created, ...change });
      assert.deepEqual(await store.getDeployment(created.environment, created.id), { ...created, ...change });
    });

    it('rejects an update of a missing deployment with NotFoundError and creates nothing', async () => {
      const environmentName = uniqueName('env');

      await assert.rejects(
        store.updateDeployment(environmentName, 'd-missing', { status: 'running' }),
        NotFoundError,
      );
      assert.equal(await store.getDeployment(environmentName, 'd-missing'), undefined);
    });
  });

  describe('steps', () => {
    it('records steps in the deployment item, keeping the first record of each step, so a retry changes nothing', async () => {
      const created = deployment(uniqueName('env'), new Date());
      await store.createDeployment(created);
      const launch = {
        name: 'launch',
        startedAt: '2025-01-01T00:00:00.000Z',
        endedAt: '2025-01-01T00:00:10.000Z',
        detail: '2 instances',
      };
      await store.updateDeployment(created.environment, created.id, { status: 'running', steps: [launch] });

      const retried = await store.updateDeployment(created.environment, created.id, {
        steps: [
          {
            ...launch,
            startedAt: '2025-01-01T00:00:20.000Z',
            endedAt: '2025-01-01T00:00:21.000Z',
            detail: 'retried',
          },
        ],
      });

      assert.deepEqual(retried.steps, [launch]);
      assert.deepEqual((await store.getDeployment(created.environment, created.id))?.steps, [launch]);
    });

    it("orders a deployment's steps by start, with names a DynamoDB placeholder could not hold", async () => {
      const created = deployment(uniqueName('env'), new Date());
      await store.createDeployment(created);
      const step = (name: string, second: number) => ({
        name,
        startedAt: `2025-01-01T00:00:0${second}.000Z`,
        endedAt: `2025-01-01T00:00:0${second}.500Z`,
      });
      await store.updateDeployment(created.environment, created.id, {
        steps: [step('Drain shop-dev-v0001', 3), step('ProvisionStack', 1)],
      });
      await store.updateDeployment(created.environment, created.id, { steps: [step('CutOver', 2)] });

      const listed = await store.listDeployments(created.environment, 1);
      assert.deepEqual(
        listed[0]?.steps?.map((s) => s.name),
        ['ProvisionStack', 'CutOver', 'Drain shop-dev-v0001'],
      );
    });

    it('adds the steps map to a deployment recorded without one, then records the step', async () => {
      const created = deployment(uniqueName('env'), new Date());
      const { steps: _none, ...withoutSteps } = created;
      await database.documentClient.send(
        new PutCommand({
          TableName: database.tableName,
          Item: { ...withoutSteps, pk: `ENV#${created.environment}`, sk: `DEPLOY#${created.id}` },
        }),
      );
      const step = {
        name: 'launch',
        startedAt: '2025-01-01T00:00:00.000Z',
        endedAt: '2025-01-01T00:00:01.000Z',
      };

      const updated = await store.updateDeployment(created.environment, created.id, {
        status: 'running',
        steps: [step],
      });

      assert.equal(updated.status, 'running');
      assert.deepEqual(updated.steps, [step]);
    });
  });

  describe('audit', () => {
    it('lists audit events in the order they were appended, each linked to the one before', async () => {
      const { name } = environment();
      const events = ['2025-01-01T00:00:02.000Z', '2025-01-01T00:00:01.000Z', '2025-01-01T00:00:01.000Z'].map(
        (at, index) => ({
          id: `e-${index}`,
          environment: name,
          at,
          actor: 'alice',
          trigger: 'api' as const,
          action: `action-${index}`,
        }),
      );
      const appended = [];
      for (const event of events) appended.push(await store.appendAudit(event));

      const listed = await store.listAudit(name);

      assert.deepEqual(listed, appended);
      assert.deepEqual(
        listed.map(({ action, sequence }) => [action, sequence]),
        [
          ['action-0', 1],
          ['action-1', 2],
          ['action-2', 3],
        ],
      );
      assert.equal(listed[2]?.previousHash, listed[1]?.hash);
    });

    it('writes an event once however often it is appended (a retried task), and answers the recorded one', async () => {
      const { name } = environment();
      const event = {
        id: 'd-1:deploy.succeeded',
        environment: name,
        at: '2025-01-01T00:00:01.000Z',
        actor: 'kiln',
        trigger: 'api' as const,
        action: 'deploy.succeeded',
      };
      const first = await store.appendAudit(event);
      const again = await store.appendAudit({
        ...event,
        at: '2025-01-01T00:00:09.000Z',
        actor: 'someone else',
      });

      assert.deepEqual(again, first);
      assert.deepEqual(await store.listAudit(name), [first]);
    });

    it('lists every audit event when they span more than one 1 MB query page', async () => {
      const { name } = environment();
      const padding = 'x'.repeat(100_000);
      const count = 12; // 12 × ~100 KB: DynamoDB (and dynalite) cut a query page at 1 MB
      for (let second = 0; second < count; second++) {
        const at = new Date(Date.UTC(2025, 0, 1, 0, 0, second)).toISOString();
        await store.appendAudit({
          id: `noted-${second}`,
          environment: name,
          at,
          actor: 'alice',
          trigger: 'api',
          action: 'noted',
          detail: { padding },
        });
      }
      const send = mock.method(database.documentClient, 'send');

      try {
        const listed = await store.listAudit(name);

        const queries = send.mock.calls.filter((call) => call.arguments[0] instanceof QueryCommand);
        assert.ok(queries.length > 1, `expected several query pages, got ${queries.length}`);
        assert.equal(listed.length, count);
        assert.deepEqual(
          listed.map((event) => event.at),
          listed.map((event) => event.at).toSorted(),
        );
      } finally {
        send.mock.restore();
      }
    });
  });
});

describe('embedded database on disk', () => {
  let directory: string;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'kiln-dynalite-'));
  });

  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('keeps the table and its items across a restart on the same path', async () => {
    const tableName = 'kiln';
    const created = environment();
    const first = await startDatabase({ path: directory, tableName });
    try {
      await new DynamoDbStateStore({ client: first.documentClient, tableName }).createEnvironment(created);
    } finally {
      await first.close();
    }

    const second = await startDatabase({ path: directory, tableName });
    try {
      const store = new DynamoDbStateStore({ client: second.documentClient, tableName });
      assert.deepEqual(await store.getEnvironment(created.name), created);
    } finally {
      await second.close();
    }
  });
});

describe('DynamoDbStateStore live index', () => {
  let database: TestDatabase;

  before(async () => {
    database = await startTestDatabase();
  });

  after(async () => {
    await database.close();
  });

  it('lists exactly the environments with a live stack, by Query on every shard of the live index, never Scan', async () => {
    const { store } = database;
    const names = Array.from({ length: 40 }, (_, i) => `live-${String(i).padStart(2, '0')}`);
    for (const name of names) await store.createEnvironment(environment({ name }));
    // Every way a workflow records a live stack: an observation, taking the lease, releasing it.
    for (const name of names.slice(0, 10)) {
      await store.updateObservedState(name, { liveStackId: `${name}-v0001`, status: 'live' });
    }
    await store.acquireLease(names[10] as string, { holder: 'd-1', acquiredAt: 'now' }, undefined, {
      liveStackId: `${names[10]}-v0001`,
    });
    await store.acquireLease(names[11] as string, { holder: 'd-2', acquiredAt: 'now' });
    await store.releaseLease(names[11] as string, 'd-2', { liveStackId: `${names[11]}-v0001` });
    // A teardown removes the live stack, and the environment leaves the index with it.
    await store.updateObservedState(names[0] as string, { liveStackId: null, status: 'deleted' });

    const send = mock.method(database.documentClient, 'send');
    try {
      const live = await store.listLiveEnvironments();
      assert.deepEqual(
        live.map((found) => found.name),
        names.slice(1, 12),
      );
      assert.ok(
        live.every((found) => !('gsiLivePk' in found)),
        'no index attribute leaks into the domain',
      );
      const commands = send.mock.calls.map((call) => call.arguments[0]?.constructor.name);
      assert.deepEqual(new Set(commands), new Set(['QueryCommand']));
      assert.equal(commands.length, LIVE_SHARDS, 'one query per shard (each fits one page here)');
    } finally {
      send.mock.restore();
    }
  });

  it('spreads live environments over its shards', () => {
    const shards = new Set(Array.from({ length: 200 }, (_, i) => liveIndexKey(`env-${i}`).gsiLivePk));
    assert.equal(shards.size, LIVE_SHARDS);
  });
});
