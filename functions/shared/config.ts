import type { PortName } from '../core/ports/index.ts';
import type { WorkflowName } from '../core/ports/workflows.ts';

/**
 * Where the AWS adapters' resources are, read from the environment, one reader per port: a function gets
 * (and reads) only the variables of the ports its composition root builds. The CDK app sets them from
 * the manifest; hybrid mode takes them from the shell. Every reader fails on the first variable missing
 * or malformed, naming it.
 */

/** The variables each port's adapter reads: the manifest derives every function's environment from it. */
export const PORT_CONFIG = {
  store: ['KILN_TABLE_NAME'],
  workflows: ['KILN_DEPLOY_STATE_MACHINE_ARN', 'KILN_TEARDOWN_STATE_MACHINE_ARN'],
  compute: [
    'KILN_LAUNCH_TEMPLATE_ID',
    'KILN_SUBNET_IDS',
    'KILN_SECURITY_GROUP_IDS',
    'KILN_INSTANCE_PORT',
    'KILN_DEFAULT_INSTANCE_TYPE',
  ],
  traffic: [
    'KILN_LISTENER_ARN',
    'KILN_VPC_ID',
    'KILN_ENDPOINT_DOMAIN',
    'KILN_INSTANCE_PORT',
    'KILN_WAKER_TARGET_GROUP_ARN',
  ],
  events: ['KILN_EVENT_BUS_NAME'],
  pushQueue: ['KILN_PUSH_QUEUE_URL'],
  secrets: ['KILN_GITHUB_WEBHOOK_SECRET_ARN'],
  // The function is named by the spec; Lambda's endpoint is the SDK's standard one.
  hooks: [],
} as const satisfies Record<PortName, readonly string[]>;

export type ConfigName = (typeof PORT_CONFIG)[PortName][number];

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_INSTANCE_PORT = '8080';
const DEFAULT_INSTANCE_TYPE = 't4g.small';

/** KILN_TABLE_NAME: the DynamoDB table holding Kiln's state. */
export function readStoreConfig(env: Env = process.env) {
  return Object.freeze({ tableName: required(env, 'KILN_TABLE_NAME') });
}

/** KILN_DEPLOY_STATE_MACHINE_ARN, KILN_TEARDOWN_STATE_MACHINE_ARN: the state machine of each workflow. */
export function readWorkflowsConfig(env: Env = process.env) {
  const stateMachineArns: Readonly<Record<WorkflowName, string>> = Object.freeze({
    deploy: required(env, 'KILN_DEPLOY_STATE_MACHINE_ARN'),
    teardown: required(env, 'KILN_TEARDOWN_STATE_MACHINE_ARN'),
  });
  return Object.freeze({ stateMachineArns });
}

/**
 * KILN_LAUNCH_TEMPLATE_ID (instances start from its default version), KILN_SUBNET_IDS (comma-separated:
 * a stack's instances are spread over them), KILN_SECURITY_GROUP_IDS (optional when the launch template
 * carries them), KILN_INSTANCE_PORT (default 8080), KILN_DEFAULT_INSTANCE_TYPE (default t4g.small).
 */
export function readComputeConfig(env: Env = process.env) {
  return Object.freeze({
    launchTemplateId: required(env, 'KILN_LAUNCH_TEMPLATE_ID'),
    subnetIds: Object.freeze(requiredList(env, 'KILN_SUBNET_IDS')),
    securityGroupIds: Object.freeze(list(env.KILN_SECURITY_GROUP_IDS ?? '')),
    instancePort: port(env, 'KILN_INSTANCE_PORT'),
    defaultInstanceType: optional(env, 'KILN_DEFAULT_INSTANCE_TYPE') ?? DEFAULT_INSTANCE_TYPE,
  });
}

/**
 * KILN_LISTENER_ARN (the ALB listener carrying one host-header rule per environment), KILN_VPC_ID (where
 * target groups are made), KILN_ENDPOINT_DOMAIN (environments are served at `http://<name>.<domain>`),
 * KILN_INSTANCE_PORT (default 8080), KILN_WAKER_TARGET_GROUP_ARN (the waker's Lambda target group, where the
 * rules of sleeping environments forward).
 */
export function readTrafficConfig(env: Env = process.env) {
  return Object.freeze({
    listenerArn: required(env, 'KILN_LISTENER_ARN'),
    vpcId: required(env, 'KILN_VPC_ID'),
    endpointDomain: required(env, 'KILN_ENDPOINT_DOMAIN'),
    instancePort: port(env, 'KILN_INSTANCE_PORT'),
    wakerTargetGroupArn: required(env, 'KILN_WAKER_TARGET_GROUP_ARN'),
  });
}

/** KILN_EVENT_BUS_NAME: Kiln's own EventBridge bus, where lifecycle events go. */
export function readEventsConfig(env: Env = process.env) {
  return Object.freeze({ eventBusName: required(env, 'KILN_EVENT_BUS_NAME') });
}

/** KILN_PUSH_QUEUE_URL: the FIFO queue accepted Git pushes wait in. */
export function readPushQueueConfig(env: Env = process.env) {
  return Object.freeze({ queueUrl: required(env, 'KILN_PUSH_QUEUE_URL') });
}

/** KILN_GITHUB_WEBHOOK_SECRET_ARN: the Secrets Manager secret GitHub signs webhook deliveries with. */
export function readSecretsConfig(env: Env = process.env) {
  return Object.freeze({ githubWebhookSecretArn: required(env, 'KILN_GITHUB_WEBHOOK_SECRET_ARN') });
}

export type StoreConfig = ReturnType<typeof readStoreConfig>;
export type WorkflowsConfig = ReturnType<typeof readWorkflowsConfig>;
export type ComputeConfig = ReturnType<typeof readComputeConfig>;
export type TrafficConfig = ReturnType<typeof readTrafficConfig>;
export type EventsConfig = ReturnType<typeof readEventsConfig>;

function optional(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

function required(env: Env, name: string): string {
  const value = optional(env, name);
  if (value === undefined) throw new Error(`Environment variable ${name} is required`);
  return value;
}

/** A comma-separated list; blanks between commas are ignored. */
function list(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

/** A list that must name something: only commas and blanks count as missing. */
function requiredList(env: Env, name: string): string[] {
  const items = list(env[name] ?? '');
  if (items.length === 0) throw new Error(`Environment variable ${name} is required`);
  return items;
}

function port(env: Env, name: string): number {
  const value = optional(env, name) ?? DEFAULT_INSTANCE_PORT;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1 || number > 65535) {
    throw new Error(`Environment variable ${name} must be a port number (1-65535), not "${value}"`);
  }
  return number;
}
