import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  PutItemCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { DynamoDbStateStore } from '../../functions/adapters/aws/dynamodb-store.ts';
import { createTableInput, INDEXES } from '../../functions/adapters/aws/table.ts';
import { verifyAuditChain } from '../../functions/core/audit.ts';
import { startDatabase } from '../../infra/local/database.ts';

/** What today's layout has: every index, by name. */
const ALL_INDEXES = INDEXES.map((index) => index.name).sort();

const root = await mkdtemp(join(tmpdir(), 'kiln-upgrade-'));
after(() => rm(root, { recursive: true, force: true }));

/**
 * A data folder as an older Kiln left it: the table with the team index only, `count` environment items
 * and `more` items as given (marshalled).
 */
async function olderDataFolder(count: number, more: PutItemCommand['input']['Item'][] = []): Promise<string> {
  const path = join(await mkdtemp(join(root, 'data-')), 'dynamodb');
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const client = clientFor(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  const layout = createTableInput('kiln');
  await client.send(
    new CreateTableCommand({
      ...layout,
      AttributeDefinitions: layout.AttributeDefinitions?.filter((a) =>
        ['pk', 'sk', 'gsi1pk', 'gsi1sk'].includes(a.AttributeName ?? ''),
      ),
      GlobalSecondaryIndexes: layout.GlobalSecondaryIndexes?.filter((index) => index.IndexName === 'byTeam'),
    }),
  );
  await waitForTable(client);
  for (let i = 0; i < count; i++) {
    await client.send(
      new PutItemCommand({
        TableName: 'kiln',
        // Every tenth environment has a live stack, which the live index added since must find.
        Item: {
          pk: { S: `ENV#e${i}` },
          sk: { S: 'META' },
          name: { S: `e${i}` },
          n: { N: String(i) },
          ...(i % 10 === 0 ? { liveStackId: { S: `e${i}-v0001` } } : {}),
        },
      }),
    );
  }
  for (const item of more) await client.send(new PutItemCommand({ TableName: 'kiln', Item: item }));
  client.destroy();
  await new Promise((resolve) => server.close(resolve));
  return path;
}

function clientFor(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
}

async function waitForTable(client: DynamoDBClient): Promise<void> {
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: 'kiln' }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function indexesAndItems(path: string) {
  const database = await startDatabase({ path, tableName: 'kiln' });
  const client = clientFor(database.endpoint);
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: 'kiln' }));
    const { Count } = await client.send(new ScanCommand({ TableName: 'kiln' }));
    const live = await new DynamoDbStateStore({
      client: database.documentClient,
      tableName: 'kiln',
    }).listLiveEnvironments();
    return {
      indexes: Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName).sort(),
      count: Count,
      live: live.map((environment) => environment.name),
    };
  } finally {
    client.destroy();
    await database.close();
  }
}

describe('embedded database layout upgrades', () => {
  it('rebuilds a table an older Kiln created with the indexes added since, keeping every item and indexing it', async () => {
    const path = await olderDataFolder(60);
    assert.deepEqual(await indexesAndItems(path), {
      indexes: ALL_INDEXES,
      count: 60,
      live: ['e0', 'e10', 'e20', 'e30', 'e40', 'e50'],
    });
  });

  it('finishes a rebuild a crash interrupted, from its backup, losing nothing', async () => {
    const path = await olderDataFolder(3);
    // As a crash after the backup was written and the table dropped would leave it.
    const items = Array.from({ length: 5 }, (_, i) => ({ pk: `ENV#saved${i}`, sk: 'META' }));
    await writeFile(`${path}.upgrade.json`, JSON.stringify({ items }));
    assert.deepEqual(await indexesAndItems(path), {
      indexes: ALL_INDEXES,
      count: 5,
      live: [],
    });
    assert.deepEqual(
      await indexesAndItems(path),
      { indexes: ALL_INDEXES, count: 5, live: [] },
      'and nothing happens again',
    );
  });

  it('keeps the audit events an older Kiln wrote unchained: listed before the chain, which starts after them', async () => {
    // As an older Kiln wrote them: keyed by time and id, with no link to another event.
    const path = await olderDataFolder(1, [
      {
        pk: { S: 'ENV#e0' },
        sk: { S: 'AUDIT#2026-01-01T00:00:00.000Z#e0:created' },
        id: { S: 'e0:created' },
        environment: { S: 'e0' },
        at: { S: '2026-01-01T00:00:00.000Z' },
        actor: { S: 'alice' },
        trigger: { S: 'api' },
        action: { S: 'environment.created' },
      },
    ]);
    const database = await startDatabase({ path, tableName: 'kiln' });
    try {
      const store = new DynamoDbStateStore({ client: database.documentClient, tableName: 'kiln' });
      await store.appendAudit({
        id: 'd-1:requested',
        environment: 'e0',
        at: '2026-12-01T00:00:00.000Z',
        actor: 'alice',
        trigger: 'api',
        action: 'deployment.requested',
      });
      const verification = verifyAuditChain('e0', await store.readAuditTrail('e0'));
      assert.deepEqual([verification.intact, verification.beforeChain, verification.events], [true, 1, 1]);
      assert.deepEqual(
        (await store.listAudit('e0')).map((event) => [event.id, event.sequence]),
        [
          ['e0:created', undefined],
          ['d-1:requested', 1],
        ],
      );
    } finally {
      await database.close();
    }
  });
});
