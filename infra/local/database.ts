import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { DOCUMENT_CLIENT_OPTIONS } from '../../functions/adapters/aws/dynamodb-store.ts';
import { createTableInput } from '../../functions/adapters/aws/table.ts';

/** A running embedded DynamoDB with Kiln's table in it. */
export interface Database {
  endpoint: string;
  documentClient: DynamoDBDocumentClient;
  /** Stops the server and its client; on-disk data stays for the next start on the same path. */
  close(): Promise<void>;
}

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
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
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
