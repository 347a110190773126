import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DOCUMENT_CLIENT_OPTIONS, DynamoDbStateStore } from '../../adapters/aws/dynamodb-store.ts';
import type { StateStore } from '../../core/ports/state-store.ts';
import { readStoreConfig } from '../config.ts';

/**
 * The state store on the DynamoDB table KILN_TABLE_NAME names. Clients are built with no endpoint, region
 * or credentials: the SDK takes them from its standard settings (AWS_REGION, the credential chain,
 * AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>), which is how Kiln is pointed at another
 * AWS-compatible endpoint. The same holds for every builder in this folder.
 */
export function buildAwsStore(
  config = readStoreConfig(),
  client = DynamoDBDocumentClient.from(new DynamoDBClient({}), DOCUMENT_CLIENT_OPTIONS),
): StateStore {
  return new DynamoDbStateStore({ client, tableName: config.tableName });
}
