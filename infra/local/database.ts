import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { DOCUMENT_CLIENT_OPTIONS } from '../../functions/adapters/aws/dynamodb-store.ts';
import { createTableInput, derivedIndexKeys } from '../../functions/adapters/aws/table.ts';
import { JsonStateFile } from '../../functions/adapters/local/state-file.ts';

/** A running embedded DynamoDB with Kiln's table in it. */
export interface Database {
  endpoint: string;
  documentClient: DynamoDBDocumentClient;
  /** Stops the server and its client; on-disk data stays for the next start on the same path. */
  close(): Promise<void>;
}

/** What the SDK signs requests to the embedded services with: they check no signature, but it signs. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' } as const;

/**
 * Starts dynalite on a free localhost port and makes sure Kiln's table exists, so the embedded
 * runtime and tests use the same table shape as production. With `path` the data lives on disk and
 * survives restarts; without it, it lives in memory.
 */
export async function startDatabase(options: { path?: string; tableName: string }): Promise<Database> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0, path: options.path });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const endpoint = `http://127.0.0.1:${port}`;

  const client = new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials: LOCAL_CREDENTIALS,
  });
  const documentClient = DynamoDBDocumentClient.from(client, DOCUMENT_CLIENT_OPTIONS);

  async function close(): Promise<void> {
    client.destroy(); // the document client's destroy() is a no-op; this frees the keep-alive sockets
    server.closeAllConnections();
    await new Promise<void>((resolve, reject) =>
      server.close((error) => (error ? reject(error) : resolve())),
    );
  }

  try {
    await createTableIfMissing(client, options.tableName);
    await waitUntilActive(client, options.tableName, options.path);
    if (options.path)
      await upgradeLayout(client, documentClient, options.tableName, `${options.path}.upgrade.json`);
  } catch (error) {
    await close();
    throw error;
  }
  return { endpoint, documentClient, close };
}

/** Creating the table is idempotent: on a restart with the same path it already exists. */
async function createTableIfMissing(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new CreateTableCommand(createTableInput(tableName)));
  } catch (error) {
    if (!(error instanceof Error && error.name === 'ResourceInUseException')) throw error;
  }
}

/**
 * A data folder from an older Kiln holds the table without the indexes added since, and dynalite cannot
 * add an index to a table (UpdateTable ignores index creations). So the table is rebuilt with today's
 * layout: its items are first saved to `backupFile` (written atomically and fsynced), then the table is
 * dropped, created again and refilled, and the backup removed. A crash anywhere in between leaves the
 * backup, and the next start finishes the rebuild from it: no item is lost.
 */
async function upgradeLayout(
  client: DynamoDBClient,
  documentClient: DynamoDBDocumentClient,
  tableName: string,
  backupFile: string,
): Promise<void> {
  const backup = new JsonStateFile<{ items: Record<string, unknown>[] }>(backupFile);
  let saved = await backup.read();
  if (!saved) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const present = new Set((Table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
    const wanted = createTableInput(tableName).GlobalSecondaryIndexes ?? [];
    if (wanted.every((index) => present.has(index.IndexName))) return;
    saved = { items: await scanAll(documentClient, tableName) };
    await backup.write(saved);
  }
  await client.send(new DeleteTableCommand({ TableName: tableName })).catch((error: Error) => {
    if (error.name !== 'ResourceNotFoundException') throw error;
  });
  await waitUntilGone(client, tableName);
  await client.send(new CreateTableCommand(createTableInput(tableName)));
  await waitUntilActive(client, tableName, backupFile);
  for (let start = 0; start < saved.items.length; start += 25) {
    // Items written before an index existed get its keys now, as the store would write them today.
    let requests = saved.items
      .slice(start, start + 25)
      .map((item) => ({ PutRequest: { Item: { ...item, ...derivedIndexKeys(item) } } }));
    while (requests.length > 0) {
      const { UnprocessedItems } = await documentClient.send(
        new BatchWriteCommand({ RequestItems: { [tableName]: requests } }),
      );
      requests = (UnprocessedItems?.[tableName] ?? []) as typeof requests;
    }
  }
  await backup.remove();
}

async function scanAll(
  documentClient: DynamoDBDocumentClient,
  tableName: string,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await documentClient.send(
      new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

async function waitUntilGone(client: DynamoDBClient, tableName: string): Promise<void> {
  const deadline = Date.now() + TABLE_ACTIVE_TIMEOUT_MS;
  for (;;) {
    try {
      await client.send(new DescribeTableCommand({ TableName: tableName }));
    } catch (error) {
      if ((error as Error).name === 'ResourceNotFoundException') return;
      throw error;
    }
    if (Date.now() > deadline) throw new Error(`table ${tableName} is still being deleted`);
    await sleep(10);
  }
}

/** How long a table may stay CREATING before startDatabase gives up. */
const TABLE_ACTIVE_TIMEOUT_MS = 5_000;

/**
 * dynalite answers CreateTable while the table is still CREATING and flips it to ACTIVE a moment
 * later (longer on disk); until then every item request fails with ResourceNotFoundException.
 */
async function waitUntilActive(
  client: DynamoDBClient,
  tableName: string,
  path: string | undefined,
): Promise<void> {
  const deadline = Date.now() + TABLE_ACTIVE_TIMEOUT_MS;
  for (;;) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    if (Date.now() > deadline) {
      throw new Error(
        `table ${tableName} is still ${Table?.TableStatus}: a previous run may have stopped while creating it` +
          (path ? `; delete ${path} to start afresh` : ''),
      );
    }
    await sleep(10);
  }
}
