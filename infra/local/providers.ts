import { join } from 'node:path';
import { DynamoDbStateStore } from '../../functions/adapters/aws/dynamodb-store.ts';
import { ProcessCompute } from '../../functions/adapters/local/process-compute.ts';
import { ProxyTraffic } from '../../functions/adapters/local/proxy-traffic.ts';
import type { Ports } from '../../functions/core/ports/index.ts';
import { buildAwsClients, buildAwsCompute } from '../../functions/shared/aws-ports.ts';
import { buildAwsTraffic } from '../../functions/shared/aws-traffic-ports.ts';
import { readAwsResourcesConfig } from '../../functions/shared/config.ts';
import type { LocalConfig } from './config.ts';
import { startDatabase } from './database.ts';

/** State, compute and traffic for the embedded control plane, with what starting and stopping them takes. */
export interface Provider extends Pick<Ports, 'store' | 'compute' | 'traffic'> {
  /** Where the state lives, for the startup banner. */
  description: string;
  /** Brings back what the previous run left running (embedded instances and endpoints). */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `KILN_PROVIDER=local` (default): dynalite on disk, child processes, a proxy per environment.
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
  const traffic = new ProxyTraffic({ host: config.host, stateFile: join(config.dataDir, 'traffic.json') });
  return {
    store: new DynamoDbStateStore({ client: database.documentClient, tableName: config.tableName }),
    compute,
    traffic,
    description: `embedded (data in ${config.dataDir})`,
    restore: async () => {
      await compute.restore();
      await traffic.restore();
    },
    close: async () => {
      await traffic.close();
      await compute.shutdown();
      await database.close();
    },
  };
}

function awsProvider(): Provider {
  const aws = readAwsResourcesConfig();
  const clients = buildAwsClients();
  return {
    store: new DynamoDbStateStore({ client: clients.documentClient, tableName: aws.tableName }),
    compute: buildAwsCompute(aws, clients.ec2),
    traffic: buildAwsTraffic(aws, clients.elb),
    description: `AWS (table ${aws.tableName}, listener ${aws.listenerArn})`,
    // Instances and the ALB keep running on their own: nothing to bring back or stop.
    restore: async () => undefined,
    close: async () => {
      for (const client of Object.values(clients)) client.destroy();
    },
  };
}
