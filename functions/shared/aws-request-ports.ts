import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DOCUMENT_CLIENT_OPTIONS, DynamoDbStateStore } from '../adapters/aws/dynamodb-store.ts';
import { StepFunctionsWorkflows } from '../adapters/aws/sfn-workflows.ts';
import { systemClock } from '../core/ports/clock.ts';
import type { RequestPorts } from '../core/ports/index.ts';
import type { AwsConfig } from './config.ts';

/** The clients an API request needs. */
export interface AwsRequestClients {
  documentClient: DynamoDBDocumentClient;
  sfn: SFNClient;
}

/**
 * Clients are built with no `endpoint`, region or credentials: the SDK takes them from its standard
 * settings (AWS_REGION, the credential chain, AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>), which
 * is how Kiln is pointed at another AWS-compatible endpoint.
 */
export function buildAwsRequestClients(): AwsRequestClients {
  return {
    documentClient: DynamoDBDocumentClient.from(new DynamoDBClient({}), DOCUMENT_CLIENT_OPTIONS),
    sfn: new SFNClient({}),
  };
}

/** The AWS state store and Step Functions behind the API's ports. */
export function buildAwsRequestPorts(
  config: Readonly<AwsConfig>,
  clients: AwsRequestClients = buildAwsRequestClients(),
): RequestPorts {
  return {
    store: new DynamoDbStateStore({ client: clients.documentClient, tableName: config.tableName }),
    workflows: new StepFunctionsWorkflows({ client: clients.sfn, stateMachineArns: config.stateMachineArns }),
    clock: systemClock,
  };
}
