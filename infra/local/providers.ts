import { join } from 'node:path';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DOCUMENT_CLIENT_OPTIONS, DynamoDbStateStore } from '../../functions/adapters/aws/dynamodb-store.ts';
import { DaemonTraffic } from '../../functions/adapters/local/daemon-traffic.ts';
import { ProcessCompute } from '../../functions/adapters/local/process-compute.ts';
import type { Ports } from '../../functions/core/ports/index.ts';
import { stackIsWanted } from '../../functions/core/wanted-stacks.ts';
import { buildAwsCompute } from '../../functions/shared/aws/compute.ts';
import { buildAwsHooks } from '../../functions/shared/aws/hooks.ts';
import { buildAwsTraffic } from '../../functions/shared/aws/traffic.ts';
import { readComputeConfig, readStoreConfig, readTrafficConfig } from '../../functions/shared/config.ts';
import type { LocalConfig } from './config.ts';
import { LOCAL_CREDENTIALS, startDatabase } from './database.ts';
import { startLambdaEndpoint } from './lambda-endpoint.ts';

/** State, compute and traffic for the embedded control plane, with what starting and stopping them takes. */
export interface Provider extends Pick<Ports, 'store' | 'compute' | 'traffic' | 'hooks'> {
  /** Where the state lives, for the startup banner. */
  description: string;
  /** Endpoint of the embedded DynamoDB, for tools that check the real state (see runtime.json). */
  databaseEndpoint?: string;
  /**
   * Takes over what the previous run left: instances still running are adopted if the store still wants
   * their stack and stopped otherwise; instances a clean stop ended are started again. Returns a summary.
   */
  restore(): Promise<string>;
  /** Stops everything: the data plane too (Ctrl-C). */
  close(): Promise<void>;
  /** Stops the control plane's share only, leaving a data plane that was serving before this run serving. */
  abandon(): Promise<void>;
}

/**
 * `KILN_PROVIDER=local` (default): dynalite on disk, child processes, a proxy per environment, hooks
 * from a local folder through the embedded Lambda.
 * `KILN_PROVIDER=aws` (hybrid): the real table, EC2 and the ALB, configured like the Lambda functions
 * (KILN_TABLE_NAME, KILN_LAUNCH_TEMPLATE_ID, ...; see the README) and the SDK's standard settings.
 */
export async function startProvider(config: LocalConfig): Promise<Provider> {
  return config.provider === 'aws' ? awsProvider() : localProvider(config);
}

async function localProvider(config: LocalConfig): Promise<Provider> {
  const database = await startDatabase({
    path: join(config.dataDir, 'dynamodb'),
    tableName: config.tableName,
  });
  const compute = new ProcessCompute({
    artifactsDir: config.artifactsDir,
    stateFile: join(config.dataDir, 'compute.json'),
    logDir: join(config.dataDir, 'logs'),
  });
  const store = new DynamoDbStateStore({ client: database.documentClient, tableName: config.tableName });
  const lambda = await startLambdaEndpoint({
    functionsDir: config.hooksDir,
    host: config.host,
    logDir: join(config.dataDir, 'logs'),
  }).catch(async (error: Error) => {
    await database.close();
    throw error;
  });
  // Hooks take the one path they take on AWS: Lambda's Invoke, at the endpoint the SDK's standard
  // setting names. This process talks to no other Lambda, and the embedded one checks no signature.
  process.env.AWS_ENDPOINT_URL_LAMBDA = lambda.url;
  const hooks = buildAwsHooks(new LambdaClient({ region: 'local', credentials: LOCAL_CREDENTIALS }));
  // The data plane: a daemon of its own that outlives this process (a crash costs no request).
  const traffic = await DaemonTraffic.connect({
    dataDir: config.dataDir,
    host: config.host,
    daemonEntry: join(import.meta.dirname, 'traffic-daemon.ts'),
  }).catch(async (error: Error) => {
    await lambda.close();
    await database.close();
    throw error;
  });
  return {
    store,
    compute,
    traffic,
    hooks,
    description: `embedded (data in ${config.dataDir})`,
    databaseEndpoint: database.endpoint,
    restore: async () => {
      const report = await compute.restore((stackId) => stackIsWanted(store, stackId));
      return [
        `${report.adopted.length} instance(s) adopted`,
        `${report.restarted.length} restarted`,
        `${report.stopped.length} stopped`,
        `${report.lost.length} lost${report.lost.length ? ` (${report.lost.map((l) => `${l.instanceId}: ${l.reason}`).join('; ')})` : ''}`,
      ].join(', ');
    },
    close: async () => {
      await lambda.close();
      await traffic.stop();
      await compute.shutdown();
      await database.close();
    },
    abandon: async () => {
      // A data plane that served before this run (after a crash) keeps serving, instances included.
      if (traffic.foundRunning) traffic.detach();
      else {
        await traffic.stop();
        await compute.shutdown();
      }
      await lambda.close();
      await database.close();
    },
  };
}

function awsProvider(): Provider {
  const { tableName } = readStoreConfig();
  const compute = readComputeConfig();
  const traffic = readTrafficConfig();
  const clients = {
    dynamodb: new DynamoDBClient({}),
    ec2: new EC2Client({}),
    elb: new ElasticLoadBalancingV2Client({}),
    cloudWatch: new CloudWatchClient({}),
    lambda: new LambdaClient({}),
  };
  return {
    store: new DynamoDbStateStore({
      client: DynamoDBDocumentClient.from(clients.dynamodb, DOCUMENT_CLIENT_OPTIONS),
      tableName,
    }),
    compute: buildAwsCompute(compute, clients.ec2),
    traffic: buildAwsTraffic(traffic, clients.elb, clients.cloudWatch),
    hooks: buildAwsHooks(clients.lambda),
    description: `AWS (table ${tableName}, listener ${traffic.listenerArn})`,
    // Instances and the ALB keep running on their own: nothing to bring back or stop.
    restore: async () => 'nothing to take over: EC2 and the ALB run on their own',
    close: async () => {
      for (const client of Object.values(clients)) client.destroy();
    },
    abandon: async () => {
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}
