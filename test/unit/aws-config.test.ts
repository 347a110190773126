import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, describe, it } from 'node:test';
import { DynamoDbStateStore } from '../../functions/adapters/aws/dynamodb-store.ts';
import { Ec2Compute } from '../../functions/adapters/aws/ec2-compute.ts';
import { ElbTraffic } from '../../functions/adapters/aws/elb-traffic.ts';
import { EventBridgeEvents } from '../../functions/adapters/aws/eventbridge-events.ts';
import { LambdaHooks } from '../../functions/adapters/aws/lambda-hooks.ts';
import { SecretsManagerSecrets } from '../../functions/adapters/aws/secrets-manager-secrets.ts';
import { StepFunctionsWorkflows } from '../../functions/adapters/aws/sfn-workflows.ts';
import { SqsPushQueue } from '../../functions/adapters/aws/sqs-push-queue.ts';
import type { PortName } from '../../functions/core/ports/index.ts';
import { configOf, ROOT_PORTS, type RootName } from '../../functions/manifest.ts';
import { buildAwsCompute } from '../../functions/shared/aws/compute.ts';
import { buildAwsEvents } from '../../functions/shared/aws/events.ts';
import { buildAwsHooks } from '../../functions/shared/aws/hooks.ts';
import { buildAwsStore } from '../../functions/shared/aws/store.ts';
import { buildAwsTraffic } from '../../functions/shared/aws/traffic.ts';
import { buildAwsWorkflows } from '../../functions/shared/aws/workflows.ts';
import {
  PORT_CONFIG,
  readComputeConfig,
  readEventsConfig,
  readPushQueueConfig,
  readSecretsConfig,
  readStoreConfig,
  readTrafficConfig,
  readWorkflowsConfig,
} from '../../functions/shared/config.ts';
import { announcePorts } from '../../functions/shared/roots/announce.ts';
import { clockPorts } from '../../functions/shared/roots/clock.ts';
import { enqueuePorts } from '../../functions/shared/roots/enqueue.ts';
import { ingestPorts } from '../../functions/shared/roots/ingest.ts';
import { requestPorts } from '../../functions/shared/roots/request.ts';
import { stackPorts } from '../../functions/shared/roots/stack.ts';
import { storePorts } from '../../functions/shared/roots/store.ts';
import { trafficPorts } from '../../functions/shared/roots/traffic.ts';
import { upkeepPorts } from '../../functions/shared/roots/upkeep.ts';
import { verifyPorts } from '../../functions/shared/roots/verify.ts';

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
  KILN_WAKER_TARGET_GROUP_ARN: 'arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/waker-Kiln/3',
  KILN_EVENT_BUS_NAME: 'Kiln-events',
  KILN_PUSH_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/kiln-git-pushes.fifo',
  KILN_GITHUB_WEBHOOK_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kiln-webhooks-AbCdEf',
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

describe('configuration, one reader per port', () => {
  it('reads every setting, splits the lists and applies the defaults', () => {
    assert.deepEqual(readStoreConfig(ENVIRONMENT), { tableName: 'kiln' });
    assert.deepEqual(readWorkflowsConfig(ENVIRONMENT), {
      stateMachineArns: {
        deploy: ENVIRONMENT.KILN_DEPLOY_STATE_MACHINE_ARN,
        teardown: ENVIRONMENT.KILN_TEARDOWN_STATE_MACHINE_ARN,
      },
    });
    assert.deepEqual(readComputeConfig(ENVIRONMENT), {
      launchTemplateId: 'lt-0kiln',
      subnetIds: ['subnet-a', 'subnet-b'],
      securityGroupIds: ['sg-app'],
      instancePort: 8080,
      defaultInstanceType: 't4g.small',
    });
    assert.deepEqual(readTrafficConfig(ENVIRONMENT), {
      listenerArn: ENVIRONMENT.KILN_LISTENER_ARN,
      vpcId: 'vpc-kiln',
      endpointDomain: 'apps.example.com',
      instancePort: 8080,
      wakerTargetGroupArn: ENVIRONMENT.KILN_WAKER_TARGET_GROUP_ARN,
    });
    assert.deepEqual(readEventsConfig(ENVIRONMENT), { eventBusName: 'Kiln-events' });
    assert.deepEqual(readPushQueueConfig(ENVIRONMENT), { queueUrl: ENVIRONMENT.KILN_PUSH_QUEUE_URL });
    assert.deepEqual(readSecretsConfig(ENVIRONMENT), {
      githubWebhookSecretArn: ENVIRONMENT.KILN_GITHUB_WEBHOOK_SECRET_ARN,
    });
    const compute = readComputeConfig(ENVIRONMENT);
    assert.ok(Object.isFrozen(compute) && Object.isFrozen(compute.subnetIds));
    assert.ok(Object.isFrozen(readWorkflowsConfig(ENVIRONMENT).stateMachineArns));
  });

  it('takes the instance port and type when given, and no security groups when the launch template has them', () => {
    const config = readComputeConfig({
      ...ENVIRONMENT,
      KILN_SECURITY_GROUP_IDS: '',
      KILN_INSTANCE_PORT: '3000',
      KILN_DEFAULT_INSTANCE_TYPE: 'm7g.medium',
    });

    assert.deepEqual(config.securityGroupIds, []);
    assert.equal(config.instancePort, 3000);
    assert.equal(config.defaultInstanceType, 'm7g.medium');
  });

  it('each reader names the variable it misses, and reads no other port’s', () => {
    const readers: Record<PortName, (env: Record<string, string | undefined>) => object> = {
      store: readStoreConfig,
      workflows: readWorkflowsConfig,
      compute: readComputeConfig,
      traffic: readTrafficConfig,
      events: readEventsConfig,
      pushQueue: readPushQueueConfig,
      secrets: readSecretsConfig,
      // Hooks read no variable: the function is named by the spec.
      hooks: () => ({}),
    };
    const optional = new Set(['KILN_SECURITY_GROUP_IDS', 'KILN_INSTANCE_PORT', 'KILN_DEFAULT_INSTANCE_TYPE']);
    for (const [port, read] of Object.entries(readers)) {
      const own: readonly string[] = PORT_CONFIG[port as keyof typeof PORT_CONFIG];
      const only = Object.fromEntries(Object.entries(ENVIRONMENT).filter(([name]) => own.includes(name)));
      assert.doesNotThrow(() => read(only), `${port} needs only ${own.join(', ')}`);
      for (const name of own.filter((n) => !optional.has(n))) {
        assert.throws(() => read({ ...only, [name]: undefined }), {
          message: `Environment variable ${name} is required`,
        });
      }
    }
    assert.throws(() => readComputeConfig({ ...ENVIRONMENT, KILN_SUBNET_IDS: ' , ' }), {
      message: 'Environment variable KILN_SUBNET_IDS is required',
    });
  });

  it('refuses an instance port that is not a port', () => {
    assert.throws(
      () => readTrafficConfig({ ...ENVIRONMENT, KILN_INSTANCE_PORT: '80a' }),
      /KILN_INSTANCE_PORT must be a port number \(1-65535\), not "80a"/,
    );
  });
});

describe('AWS adapters built from the standard SDK settings', () => {
  /** A stand-in AWS endpoint: records which service each request was for, answers 400. */
  let server: Server;
  let endpoint: string;
  const seen: string[] = [];

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body: Buffer[] = [];
      req.on('data', (chunk: Buffer) => body.push(chunk));
      req.on('end', () => {
        const action = /Action=(\w+)/.exec(Buffer.concat(body).toString())?.[1];
        seen.push(`${req.headers.host} ${target || action || req.url}`);
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: 'ValidationException', message: 'stand-in' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('send to AWS_ENDPOINT_URL_<SERVICE> when set, and to AWS_ENDPOINT_URL otherwise', async () => {
    setEnv({
      ...ENVIRONMENT,
      AWS_REGION: 'eu-west-1',
      // Dummy static credentials: the SDK resolves an identity before it builds the request.
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL: endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: endpoint,
      AWS_ENDPOINT_URL_SFN: endpoint,
      AWS_ENDPOINT_URL_EC2: undefined,
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: undefined,
      AWS_ENDPOINT_URL_EVENTBRIDGE: undefined,
      AWS_MAX_ATTEMPTS: '1',
    });
    const host = new URL(endpoint).host;
    seen.length = 0;
    await assert.rejects(buildAwsStore().getEnvironment('x'));
    await assert.rejects(buildAwsWorkflows().isRunning('deploy', 'd-1'));
    await assert.rejects(buildAwsTraffic().getWeights('x'));
    await assert.rejects(buildAwsCompute().describeStack('x-v0001'));
    const events = buildAwsEvents();
    assert.ok(events instanceof EventBridgeEvents);
    assert.deepEqual(
      seen.map((line) => line.split(' ')[0]),
      [host, host, host, host],
    );
    assert.match(seen[0] ?? '', /DynamoDB_20120810\.GetItem/);
    assert.match(seen[1] ?? '', /AWSStepFunctions\.DescribeExecution/);
  });

  it('invoke hooks at AWS_ENDPOINT_URL_LAMBDA (how the embedded runtime reaches its Lambda endpoint)', async () => {
    setEnv({
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_ENDPOINT_URL: undefined,
      AWS_ENDPOINT_URL_LAMBDA: endpoint,
      AWS_MAX_ATTEMPTS: '1',
    });
    seen.length = 0;
    const payload = {
      environment: 'checkout-dev',
      deploymentId: 'd-1',
      stackId: 'checkout-dev-v0002',
      hook: 'beforeTraffic' as const,
      testUrl: 'http://127.0.0.1:1',
    };

    const result = await buildAwsHooks().invoke('smoke', payload, 5);

    assert.deepEqual(seen, [`${new URL(endpoint).host} /2015-03-31/functions/smoke/invocations`]);
    assert.equal(result.status, 'Failed', 'an error Lambda answered is the hook failing, not Kiln');
  });
});

describe('composition roots without wiring', () => {
  const roots: Record<RootName, () => object> = {
    store: storePorts,
    request: requestPorts,
    announce: announcePorts,
    traffic: trafficPorts,
    stack: stackPorts,
    ingest: ingestPorts,
    enqueue: enqueuePorts,
    upkeep: upkeepPorts,
    verify: verifyPorts,
    clock: clockPorts,
  };
  const adapters = {
    store: DynamoDbStateStore,
    workflows: StepFunctionsWorkflows,
    compute: Ec2Compute,
    traffic: ElbTraffic,
    events: EventBridgeEvents,
    pushQueue: SqsPushQueue,
    secrets: SecretsManagerSecrets,
    hooks: LambdaHooks,
  };

  for (const [name, root] of Object.entries(roots) as [RootName, () => Record<string, unknown>][]) {
    it(`${name}: builds its ports, once, from its own configuration alone`, () => {
      const needed = configOf({ root: name });
      setEnv({
        ...Object.fromEntries(Object.keys(ENVIRONMENT).map((k) => [k, undefined])),
        AWS_REGION: 'eu-west-1',
      });
      // A root without configuration (the clock's) has nothing to miss.
      if (needed.length > 0)
        assert.throws(root, (error: Error) => {
          const named = /^Environment variable (\w+) is required$/.exec(error.message)?.[1];
          return named !== undefined && (needed as string[]).includes(named);
        });
      setEnv(Object.fromEntries(needed.map((n) => [n, ENVIRONMENT[n as keyof typeof ENVIRONMENT]])));
      const built = root();
      assert.deepEqual(Object.keys(built).sort(), [...ROOT_PORTS[name], 'clock'].sort());
      for (const port of ROOT_PORTS[name])
        assert.ok(built[port] instanceof adapters[port], `${name}.${port}`);
      assert.equal(root(), built, 'later calls reuse the same ports and clients');
    });
  }
});
