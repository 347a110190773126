import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { Construct } from 'constructs';
import {
  ENTRY_POINTS,
  type EntryPoint,
  PUSH_QUEUE,
  QUEUES,
  type QueueDefinition,
} from '../functions/manifest.ts';
import type { ConfigName } from '../functions/shared/config.ts';
import { KilnAlarms } from './constructs/alarms.ts';
import { KilnApi } from './constructs/api.ts';
import { ComputePermissions } from './constructs/compute-permissions.ts';
import { KilnDashboard } from './constructs/dashboard.ts';
import { KilnEvents } from './constructs/events.ts';
import { KilnFunctions } from './constructs/functions.ts';
import { KilnNetwork } from './constructs/network.ts';
import { KilnQueue } from './constructs/queues.ts';
import { KilnSecrets } from './constructs/secrets.ts';
import { KilnTable } from './constructs/table.ts';
import { KilnWaker } from './constructs/waker.ts';
import { executionArns, KilnWorkflows, stateMachineArn, workflowFiles } from './constructs/workflows.ts';

/** Port every Kiln instance serves on (the sample app and artifacts built for Kiln listen there). */
export const INSTANCE_PORT = 8080;
/** Instance type of a spec that names none: Graviton, like the functions, and small. */
export const DEFAULT_INSTANCE_TYPE = 't4g.small';

export interface KilnStackProps extends StackProps {
  /** Use this VPC instead of creating one (context `vpcId`; needs an account and region to look it up). */
  vpcId?: string;
  /** Domain environments are reached under (context `endpointDomain`); default: the ALB's DNS name. */
  endpointDomain?: string;
  /** The entry points and queues to deploy: the manifest's unless a test gives its own. */
  entries?: readonly EntryPoint[];
  queues?: readonly QueueDefinition[];
}

/**
 * Everything Kiln needs in one account and region: the table, where stacks run and how traffic
 * reaches them, the handlers, the workflows, the REST API and the alarms.
 *
 * Kiln's own event bus (lifecycle events, archived). Queues, rules and schedules come from the
 * manifest's entry points (functions/manifest.ts), each queue with its dead-letter queue and alarm.
 */
export class KilnStack extends Stack {
  readonly table: KilnTable;
  readonly network: KilnNetwork;
  readonly permissions: ComputePermissions;
  readonly functions: KilnFunctions;
  readonly workflows: KilnWorkflows;
  readonly api: KilnApi;
  readonly dashboard: KilnDashboard;
  readonly alarms: KilnAlarms;
  readonly events: KilnEvents;
  readonly waker: KilnWaker;
  readonly queues: ReadonlyMap<string, KilnQueue>;

  constructor(scope: Construct, id: string, props: KilnStackProps = {}) {
    super(scope, id, props);

    const table = new KilnTable(this, 'State');
    const network = new KilnNetwork(this, 'Network', {
      ...(props.vpcId ? { vpcId: props.vpcId } : {}),
      instancePort: INSTANCE_PORT,
    });
    const permissions = new ComputePermissions(this, 'ComputePermissions', network);

    const events = new KilnEvents(this, 'Events', { ...(props.entries ? { entries: props.entries } : {}) });
    const queues = new Map(
      (props.queues ?? QUEUES).map((definition) => [
        definition.name,
        new KilnQueue(this, `${definition.name}Queue`, definition),
      ]),
    );

    const waker = new KilnWaker(this, 'Waker', { ...(props.entries ? { entries: props.entries } : {}) });
    const pushQueue = queues.get(PUSH_QUEUE)?.queue;
    const secrets = new KilnSecrets(this, 'Secrets');
    const workflows = workflowFiles().map(({ workflow }) => workflow);
    // Every configuration variable's value; each function gets only those its ports read (see the manifest).
    const config: Record<ConfigName, string> = {
      KILN_TABLE_NAME: table.table.tableName,
      KILN_DEPLOY_STATE_MACHINE_ARN: stateMachineArn(this, 'deploy'),
      KILN_TEARDOWN_STATE_MACHINE_ARN: stateMachineArn(this, 'teardown'),
      KILN_EVENT_BUS_NAME: events.bus.eventBusName,
      // A stack without the push queue (a test's) gives nothing to functions that would use it.
      KILN_PUSH_QUEUE_URL: pushQueue?.queueUrl ?? '',
      KILN_GITHUB_WEBHOOK_SECRET_ARN: secrets.githubWebhook.secretArn,
      KILN_LAUNCH_TEMPLATE_ID: network.launchTemplate.ref,
      KILN_SUBNET_IDS: network.instanceSubnets.subnetIds.join(','),
      KILN_SECURITY_GROUP_IDS: network.instanceSecurityGroup.securityGroupId,
      KILN_VPC_ID: network.vpc.vpcId,
      KILN_LISTENER_ARN: network.listener.listenerArn,
      KILN_WAKER_TARGET_GROUP_ARN: waker.targetGroup.targetGroupArn,
      KILN_ENDPOINT_DOMAIN: props.endpointDomain ?? network.loadBalancer.loadBalancerDnsName,
      KILN_INSTANCE_PORT: String(INSTANCE_PORT),
      KILN_DEFAULT_INSTANCE_TYPE: DEFAULT_INSTANCE_TYPE,
    };

    const functions = new KilnFunctions(this, 'Functions', {
      config,
      table,
      eventBusArn: events.bus.eventBusArn,
      ...(pushQueue ? { pushQueue } : {}),
      githubWebhookSecret: secrets.githubWebhook,
      ...(props.entries ? { entries: props.entries } : {}),
      permissions,
      workflows: {
        stateMachineArns: workflows.map((workflow) => stateMachineArn(this, workflow)),
        executionArns: workflows.map((workflow) => executionArns(this, workflow)),
      },
    });
    const stateMachines = new KilnWorkflows(this, 'Workflows', { functions: functions.byName });
    const api = new KilnApi(this, 'Api', {
      functions: functions.byName,
      ...(props.entries ? { entries: props.entries } : {}),
    });
    const dashboard = new KilnDashboard(this, 'Dashboard', { api: api.api });
    events.bindTargets(functions.byName);
    waker.bindTarget(functions.byName);
    for (const entry of props.entries ?? ENTRY_POINTS) {
      if (entry.trigger.type !== 'queue') continue;
      const queue = queues.get(entry.trigger.queue);
      if (!queue)
        throw new Error(
          `entry point ${entry.name} consumes queue ${entry.trigger.queue}, which QUEUES does not define`,
        );
      queue.consumeWith(
        functions.byName.get(entry.name) as NodejsFunction,
        entry.trigger.batchSize,
        entry.trigger.maxBatchingWindowSeconds,
      );
    }
    const alarms = new KilnAlarms(this, 'Alarms', {
      stateMachines: stateMachines.stateMachines,
      functions: functions.byName,
      queues: [...queues.values()],
    });

    this.table = table;
    this.network = network;
    this.permissions = permissions;
    this.functions = functions;
    this.workflows = stateMachines;
    this.api = api;
    this.dashboard = dashboard;
    this.alarms = alarms;
    this.events = events;
    this.waker = waker;
    this.queues = queues;

    new CfnOutput(this, 'ApiUrl', { value: api.api.url, description: 'Base URL of the REST API (SigV4)' });
    new CfnOutput(this, 'DashboardUrl', {
      value: dashboard.url,
      description: 'The web dashboard (sign in with AWS credentials of a kiln-team-<team> role session)',
    });
    new CfnOutput(this, 'TableName', { value: table.table.tableName });
    new CfnOutput(this, 'LoadBalancerDnsName', { value: network.loadBalancer.loadBalancerDnsName });
    new CfnOutput(this, 'WakerTargetGroupArn', {
      value: waker.targetGroup.targetGroupArn,
      description:
        'Where the rules of sleeping environments forward (KILN_WAKER_TARGET_GROUP_ARN in hybrid mode)',
    });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarms.topic.topicArn });
    new CfnOutput(this, 'EventBusName', {
      value: events.bus.eventBusName,
      description: 'Kiln lifecycle events',
    });
    new CfnOutput(this, 'GitHubWebhookUrl', {
      value: `${api.api.url}hooks/github`,
      description: 'Payload URL of a GitHub webhook (content type application/json, push events)',
    });
    new CfnOutput(this, 'GitHubWebhookSecretArn', {
      value: secrets.githubWebhook.secretArn,
      description: 'The secret to give GitHub for the webhook (aws secretsmanager get-secret-value)',
    });
    for (const [workflow, stateMachine] of stateMachines.stateMachines) {
      new CfnOutput(this, `${workflow}StateMachineArn`, { value: stateMachine.stateMachineArn });
    }
  }
}
