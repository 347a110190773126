import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { startDatabase } from '../../infra/local/database.ts';
import {
  awaitDeployment,
  call,
  environmentBody,
  type KilnProcess,
  removeDataDir,
  startKilnProcess,
} from '../support/kiln-process.ts';

/** Nothing listens here: EC2 and ELB calls fail to connect. */
const UNREACHABLE = 'http://127.0.0.1:9';

/**
 * Hybrid mode (`KILN_PROVIDER=aws`): the embedded control plane with the AWS adapters. The AWS SDK's
 * standard endpoint settings point DynamoDB at a dynalite standing in for the real table, and EC2 and
 * ELB at an address where nothing answers.
 */
describe('hybrid mode: KILN_PROVIDER=aws', { timeout: 180_000 }, () => {
  let kiln: KilnProcess;
  let database: Awaited<ReturnType<typeof startDatabase>>;

  before(async () => {
    database = await startDatabase({ tableName: 'kiln-hybrid' });
    kiln = await startKilnProcess(undefined, {
      KILN_PROVIDER: 'aws',
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_MAX_ATTEMPTS: '1',
      AWS_ENDPOINT_URL_DYNAMODB: database.endpoint,
      AWS_ENDPOINT_URL_EC2: UNREACHABLE,
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: UNREACHABLE,
      KILN_TABLE_NAME: 'kiln-hybrid',
      KILN_LAUNCH_TEMPLATE_ID: 'lt-0123456789abcdef0',
      KILN_SUBNET_IDS: 'subnet-a,subnet-b',
      KILN_VPC_ID: 'vpc-0123',
      KILN_LISTENER_ARN: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/kiln/1/2',
      KILN_ENDPOINT_DOMAIN: 'apps.example.com',
      KILN_WAKER_TARGET_GROUP_ARN:
        'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/waker-Kiln/3',
    });
  });

  after(async () => {
    await kiln?.stop();
    await removeDataDir(kiln.dataDir);
    await database?.close();
  });

  it('keeps its state in the table the AWS settings name, and a deployment that cannot reach EC2 fails cleanly', async () => {
    const created = await call(kiln, 'PUT', '/environments/hybrid-dev', { body: environmentBody('1.0.0') });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const { Item } = await database.documentClient.send(
      new GetCommand({ TableName: 'kiln-hybrid', Key: { pk: 'ENV#hybrid-dev', sk: 'META' } }),
    );
    assert.equal(Item?.name, 'hybrid-dev', 'the environment is in the table the AWS SDK settings point at');

    const deployment = await awaitDeployment(kiln, 'hybrid-dev', created.body.deploymentId, 120_000);
    assert.equal(deployment.status, 'failed', JSON.stringify(deployment));
    assert.match(
      deployment.error.message,
      /127\.0\.0\.1:9|ECONNREFUSED|connect/i,
      'the error says what went wrong',
    );
    const env = await call(kiln, 'GET', '/environments/hybrid-dev');
    assert.equal(env.body.status, 'failed');
    assert.equal(env.body.deploymentInProgress, null, 'the lease is released');
  });
});
