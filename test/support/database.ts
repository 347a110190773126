import { randomUUID } from 'node:crypto';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbStateStore } from '../../functions/adapters/aws/dynamodb-store.ts';
import { startDatabase } from '../../infra/local/database.ts';

/** A store on a fresh in-memory database; call `close` (e.g. in `after`) so the test process can exit. */
export interface TestDatabase {
  store: DynamoDbStateStore;
  documentClient: DynamoDBDocumentClient;
  /** The database's HTTP endpoint, for another process's client. */
  endpoint: string;
  tableName: string;
  close(): Promise<void>;
}

/** Starts an in-memory embedded DynamoDB with a uniquely named table, isolated from every other test. */
export async function startTestDatabase(): Promise<TestDatabase> {
  const tableName = `kiln-test-${randomUUID()}`;
  const { documentClient, endpoint, close } = await startDatabase({ tableName });
  return {
    store: new DynamoDbStateStore({ client: documentClient, tableName }),
    documentClient,
    endpoint,
    tableName,
    close,
  };
}
