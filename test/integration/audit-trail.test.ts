import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { auditChainKey } from '../../functions/adapters/aws/table.ts';
import { AUDIT_DEDUPE_WINDOW, verifyAuditChain } from '../../functions/core/audit.ts';
import { ValidationError } from '../../functions/core/errors.ts';
import type { AuditEvent } from '../../functions/core/types.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';
import { eventually } from '../support/kiln-process.ts';

const APPENDER = resolve(import.meta.dirname, '../fixtures/audit-appender.ts');

let database: TestDatabase;
let environments = 0;

before(async () => {
  database = await startTestDatabase();
});
after(() => database.close());

/** A fresh environment name, so every test has a chain of its own. */
function fresh(): string {
  environments += 1;
  return `audit-${environments}`;
}

function event(environment: string, id: string, extra: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id,
    environment,
    at: new Date().toISOString(),
    actor: 'alice',
    trigger: 'api',
    action: 'noted',
    ...extra,
  };
}

async function verify(environment: string) {
  return verifyAuditChain(environment, await database.store.readAuditTrail(environment));
}

describe('audit hash chain on the embedded DynamoDB', { timeout: 120_000 }, () => {
  it('makes one linear chain of the events of 50 concurrent appenders', async () => {
    const environment = fresh();
    const ids = Array.from({ length: 50 }, (_, i) => `writer-${i}`);

    const appended = await Promise.all(ids.map((id) => database.store.appendAudit(event(environment, id))));

    const { chain } = await database.store.readAuditTrail(environment);
    assert.deepEqual(
      chain.map((e) => e.sequence),
      ids.map((_, i) => i + 1),
    );
    assert.deepEqual(chain.map((e) => e.id).sort(), ids.toSorted());
    assert.deepEqual(
      appended.toSorted((a, b) => a.sequence - b.sequence),
      chain,
      'each appender got back its event as chained',
    );
    assert.deepEqual(await verify(environment), {
      environment,
      events: 50,
      beforeChain: 0,
      intact: true,
      newest: { sequence: 50, hash: chain[49]?.hash },
    });
  });

  it('appends an event that 10 appenders retry at once exactly once', async () => {
    const environment = fresh();
    await database.store.appendAudit(event(environment, 'before'));
    const copies = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        database.store.appendAudit(event(environment, 'd-1:deploy.succeeded', { actor: `attempt-${i}` })),
      ),
    );
    assert.equal(new Set(copies.map((copy) => copy.hash)).size, 1, 'all got the one recorded event');
    assert.deepEqual(
      (await database.store.listAudit(environment)).map((e) => e.id),
      ['before', 'd-1:deploy.succeeded'],
    );
  });

  it(`finds a retried event among the ${AUDIT_DEDUPE_WINDOW} newest, however many came between`, async () => {
    const environment = fresh();
    await database.store.appendAudit(event(environment, 'retried'));
    for (let i = 1; i < AUDIT_DEDUPE_WINDOW; i++)
      await database.store.appendAudit(event(environment, `other-${i}`));
    const retried = await database.store.appendAudit(event(environment, 'retried'));
    assert.equal(retried.sequence, 1);
    assert.equal((await verify(environment)).events, AUDIT_DEDUPE_WINDOW);
  });

  it('appends nothing again when the write landed but its answer was lost (a crash right after it)', async () => {
    const environment = fresh();
    await database.store.appendAudit(event(environment, 'first'));
    // The first PutItem reaches the table, then the process "dies" before it hears back.
    let lost = false;
    database.documentClient.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'PutItemCommand' && !lost) {
          lost = true;
          throw new Error('connection reset after the write');
        }
        return result;
      },
      { step: 'initialize', name: 'loseAnswer' },
    );
    try {
      await assert.rejects(database.store.appendAudit(event(environment, 'second')), /connection reset/);
    } finally {
      database.documentClient.middlewareStack.remove('loseAnswer');
    }

    const retried = await database.store.appendAudit(event(environment, 'second'));

    assert.equal(retried.sequence, 2);
    assert.deepEqual(
      (await database.store.listAudit(environment)).map((e) => e.id),
      ['first', 'second'],
    );
    assert.equal((await verify(environment)).intact, true);
  });

  it('survives kill -9 of an appender at any point: resumed, the chain has every event once, in order', async () => {
    const environment = fresh();
    const dir = await mkdtemp(join(tmpdir(), 'kiln-audit-'));
    const journal = join(dir, 'journal');
    try {
      const appender = (from: number) =>
        spawn(
          process.execPath,
          [APPENDER, database.endpoint, database.tableName, environment, String(from), '120', journal],
          { stdio: 'inherit' },
        );
      const first = appender(1);
      const lines = async () => (await readFile(journal, 'utf8').catch(() => '')).trim().split('\n');
      await eventually('the appender to be under way', async () =>
        (await lines()).length >= 30 ? true : undefined,
      );
      first.kill('SIGKILL');
      await once(first, 'exit');
      const interrupted = Number((await lines()).at(-1)?.split(' ')[1]);
      assert.ok(interrupted < 120, `killed before it finished (at ${interrupted})`);

      const resumed = appender(interrupted);
      const [code] = await once(resumed, 'exit');
      assert.equal(code, 0);

      const { chain } = await database.store.readAuditTrail(environment);
      assert.deepEqual(
        chain.map((e) => e.id),
        Array.from({ length: 120 }, (_, i) => `e${i + 1}`),
      );
      assert.equal((await verify(environment)).intact, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports the one item edited directly in the table, and nothing before it', async () => {
    const environment = fresh();
    for (let i = 1; i <= 6; i++) {
      await database.store.appendAudit(event(environment, `e${i}`, { detail: { version: `${i}.0.0` } }));
    }
    await database.documentClient.send(
      new UpdateCommand({
        TableName: database.tableName,
        Key: auditChainKey(environment, 4),
        UpdateExpression: 'SET #detail.#version = :forged',
        ExpressionAttributeNames: { '#detail': 'detail', '#version': 'version' },
        ExpressionAttributeValues: { ':forged': '9.9.9' },
      }),
    );

    const { intact, mismatch } = await verify(environment);

    assert.equal(intact, false);
    assert.deepEqual([mismatch?.sequence, mismatch?.id, mismatch?.problem], [4, 'e4', 'hash']);
  });

  it('lists events an older Kiln recorded unchained before the chain, which goes on intact after them', async () => {
    const environment = fresh();
    // As an older Kiln wrote them: keyed by time and id, no link.
    for (const [at, id] of [
      ['2026-01-01T00:00:00.000Z', `${environment}:created`],
      ['2026-01-01T00:00:01.000Z', 'd-old:requested'],
    ] as const) {
      await database.documentClient.send(
        new PutCommand({
          TableName: database.tableName,
          Item: { pk: `ENV#${environment}`, sk: `AUDIT#${at}#${id}`, ...event(environment, id, { at }) },
        }),
      );
    }
    await database.store.appendAudit(event(environment, 'd-new:requested'));
    await database.store.appendAudit(event(environment, 'd-new:deploy.succeeded'));

    assert.deepEqual(
      (await database.store.listAudit(environment)).map((e) => [e.id, e.sequence]),
      [
        [`${environment}:created`, undefined],
        ['d-old:requested', undefined],
        ['d-new:requested', 1],
        ['d-new:deploy.succeeded', 2],
      ],
    );
    const verification = await verify(environment);
    assert.deepEqual([verification.intact, verification.events, verification.beforeChain], [true, 2, 2]);
  });

  it('pages through the trail oldest first with an opaque cursor, and refuses a cursor it did not give', async () => {
    const environment = fresh();
    for (let i = 1; i <= 5; i++) await database.store.appendAudit(event(environment, `e${i}`));
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await database.store.pageAudit(environment, { limit: 2, ...(after ? { after } : {}) });
      assert.ok(page.events.length <= 2);
      seen.push(...page.events.map((e) => e.id));
      after = page.next;
    } while (after);
    assert.deepEqual(seen, ['e1', 'e2', 'e3', 'e4', 'e5']);

    await assert.rejects(
      database.store.pageAudit(environment, { limit: 2, after: Buffer.from('META').toString('base64url') }),
      ValidationError,
    );
  });
});
