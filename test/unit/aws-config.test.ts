import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeRulesCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { DescribeExecutionCommand } from '@aws-sdk/client-sfn';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbStateStore } from '../../functions/adapters/aws/dynamodb-store.ts';
import { Ec2Compute } from '../../functions/adapters/aws/ec2-compute.ts';
import { ElbTraffic } from '../../functions/adapters/aws/elb-traffic.ts';
import { StepFunctionsWorkflows } from '../../functions/adapters/aws/sfn-workflows.ts';
import { buildAwsClients } from '../../functions/shared/aws-ports.ts';
import { readAwsConfig } from '../../functions/shared/config.ts';
import { ports } from '../../functions/shared/ports.ts';

const ENVIRONMENT = {
  KILN_TABLE_NAME: 'kiln',
  KILN_DEPLOY_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:kiln-deploy',
  KILN_TEARDOWN_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:kiln-teardown',
  KILN_LAUNCH_TEMPLATE_ID: 'lt-0kiln',
  KILN_SUBNET_IDS: 'subnet-a, subnet-b,',
  KILN_SECURITY_GROUP_IDS: 'sg-app',
  KILN_VPC_ID: 'vpc-kiln',
  KILN_LISTENER_ARN: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/kiln/1/2',
  KILN_ENDPOINT_DOMAIN: 'apps.example.com',
};

const saved = new Map<string, string | undefined>();

/** Sets process environment variables for one test; afterEach puts the previous values back. */
function setEnv(values: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(values)) {
    if (!saved.has(name)) saved.set(name, process.env[name]);
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
}

afterEach(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  saved.clear();
});

describe('readAwsConfig', () => {
  it('reads every setting, splits the lists and applies the defaults', () => {
    const config = readAwsConfig(ENVIRONMENT);

    assert.deepEqual(config, {
      tableName: 'kiln',
      stateMachineArns: {
        deploy: ENVIRONMENT.KILN_DEPLOY_STATE_MACHINE_ARN,
        teardown: ENVIRONMENT.KILN_TEARDOWN_STATE_MACHINE_ARN,
      },
      launchTemplateId: 'lt-0kiln',
      subnetIds: ['subnet-a', 'subnet-b'],
      securityGroupIds: ['sg-app'],
      vpcId: 'vpc-kiln',
      listenerArn: ENVIRONMENT.KILN_LISTENER_ARN,
      endpointDomain: 'apps.example.com',
      instancePort: 8080,
      defaultInstanceType: 't4g.small',
    });
    assert.ok(
      Object.isFrozen(config) &&
        Object.isFrozen(config.subnetIds) &&
        Object.isFrozen(config.stateMachineArns),
    );
  });

  it('takes the instance port and type when given, and no security groups when the launch template has them', () => {
    const config = readAwsConfig({
      ...ENVIRONMENT,
      KILN_SECURITY_GROUP_IDS: '',
      KILN_INSTANCE_PORT: '3000',
      KILN_DEFAULT_INSTANCE_TYPE: 'm7g.medium',
    });

    assert.deepEqual(config.securityGroupIds, []);
    assert.equal(config.instancePort, 3000);
    assert.equal(config.defaultInstanceType, 'm7g.medium');
  });

  it('names the missing variable', () => {
    for (const name of Object.keys(ENVIRONMENT)) {
      if (name === 'KILN_SECURITY_GROUP_IDS') continue;
      assert.throws(() => readAwsConfig({ ...ENVIRONMENT, [name]: undefined }), {
        message: `Environment variable ${name} is required`,
      });
    }
    assert.throws(() => readAwsConfig({ ...ENVIRONMENT, KILN_SUBNET_IDS: ' , ' }), {
      message: 'Environment variable KILN_SUBNET_IDS is required',
    });
  });

  it('refuses an instance port that is not a port', () => {
    assert.throws(
      () => readAwsConfig({ ...ENVIRONMENT, KILN_INSTANCE_PORT: '80a' }),
      /KILN_INSTANCE_PORT must be a port number \(1-65535\), not "80a"/,
    );
  });
});

describe('AWS clients', () => {
  /** A build-step middleware: stops every request before it is signed or sent, reporting its host. */
  const captureHost = () => async (args: { request: unknown }) => {
    const { hostname, port } = args.request as { hostname: string; port?: number };
    throw Object.assign(new Error('request captured'), { host: `${hostname}:${port}` });
  };
  const capture = { step: 'build', name: 'captureHost' } as const;

  async function hostOf(request: Promise<unknown>): Promise<string> {
    const error = await request.then(
      () => assert.fail('the request was not captured'),
      (caught: Error & { host?: string }) => caught,
    );
    assert.ok(error.host, String(error));
    return error.host;
  }

  it('send to AWS_ENDPOINT_URL_<SERVICE> when set, and to AWS_ENDPOINT_URL otherwise', async () => {
    setEnv({
      AWS_REGION: 'eu-west-1',
      // Dummy static credentials: the SDK resolves an identity before it builds the request.
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:4566',
      AWS_ENDPOINT_URL_DYNAMODB: 'http://127.0.0.1:8000',
      AWS_ENDPOINT_URL_EC2: undefined,
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: undefined,
      AWS_ENDPOINT_URL_SFN: 'http://127.0.0.1:8083',
    });
    const { documentClient, ec2, elb, sfn } = buildAwsClients();
    documentClient.middlewareStack.add(captureHost, capture);
    ec2.middlewareStack.add(captureHost, capture);
    elb.middlewareStack.add(captureHost, capture);
    sfn.middlewareStack.add(captureHost, capture);

    const get = new GetCommand({ TableName: 'kiln', Key: { pk: 'x' } });
    assert.equal(await hostOf(documentClient.send(get)), '127.0.0.1:8000');
    assert.equal(await hostOf(ec2.send(new DescribeInstancesCommand({}))), '127.0.0.1:4566');
    assert.equal(await hostOf(elb.send(new DescribeRulesCommand({ ListenerArn: 'x' }))), '127.0.0.1:4566');
    assert.equal(
      await hostOf(sfn.send(new DescribeExecutionCommand({ executionArn: 'x' }))),
      '127.0.0.1:8083',
    );
  });
});

describe('ports() without wiring', () => {
  it('builds the AWS ports once from the environment, failing on a missing variable', () => {
    setEnv({ ...ENVIRONMENT, AWS_REGION: 'eu-west-1', KILN_LISTENER_ARN: undefined });
    assert.throws(() => ports(), { message: 'Environment variable KILN_LISTENER_ARN is required' });

    setEnv({ KILN_LISTENER_ARN: ENVIRONMENT.KILN_LISTENER_ARN });
    const built = ports();

    assert.ok(built.store instanceof DynamoDbStateStore);
    assert.ok(built.compute instanceof Ec2Compute);
    assert.ok(built.traffic instanceof ElbTraffic);
    assert.ok(built.workflows instanceof StepFunctionsWorkflows);
    assert.equal(ports(), built, 'later calls reuse the same ports and clients');
  });
});
