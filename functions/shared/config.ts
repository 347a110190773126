import type { WorkflowName } from '../core/ports/workflows.ts';

/**
 * Where the AWS provider's resources are, read once from the environment. The CDK app sets these
 * variables on every function; hybrid mode takes them from the shell.
 */
export interface AwsConfig {
  /** KILN_TABLE_NAME: the DynamoDB table holding Kiln's state. */
  tableName: string;
  /** KILN_DEPLOY_STATE_MACHINE_ARN, KILN_TEARDOWN_STATE_MACHINE_ARN. */
  stateMachineArns: Readonly<Record<WorkflowName, string>>;
  /** KILN_LAUNCH_TEMPLATE_ID: the launch template instances start from (its default version). */
  launchTemplateId: string;
  /** KILN_SUBNET_IDS (comma-separated): subnets the instances of a stack are spread over. */
  subnetIds: readonly string[];
  /** KILN_SECURITY_GROUP_IDS (comma-separated, may be empty when the launch template carries them). */
  securityGroupIds: readonly string[];
  /** KILN_VPC_ID: the VPC of the subnets, where target groups are made. */
  vpcId: string;
  /** KILN_LISTENER_ARN: the ALB listener that carries one host-header rule per environment. */
  listenerArn: string;
  /** KILN_ENDPOINT_DOMAIN: environments are served at `http://<environment>.<domain>`. */
  endpointDomain: string;
  /** KILN_INSTANCE_PORT (default 8080): the port the artifact listens on. */
  instancePort: number;
  /** KILN_DEFAULT_INSTANCE_TYPE (default t4g.small): for specs that name no instance type. */
  defaultInstanceType: string;
}

type Env = Readonly<Record<string, string | undefined>>;

const DEFAULT_INSTANCE_PORT = '8080';
const DEFAULT_INSTANCE_TYPE = 't4g.small';

/** Everything but the state machines: what hybrid mode needs, whose workflows run on the embedded runner. */
export type AwsResourcesConfig = Omit<AwsConfig, 'stateMachineArns'>;

/** Reads and checks every variable at once, failing on the first one missing or malformed. */
export function readAwsConfig(env: Env = process.env): Readonly<AwsConfig> {
  return Object.freeze({
    ...readAwsResourcesConfig(env),
    stateMachineArns: Object.freeze({
      deploy: required(env, 'KILN_DEPLOY_STATE_MACHINE_ARN'),
      teardown: required(env, 'KILN_TEARDOWN_STATE_MACHINE_ARN'),
    }),
  });
}

/** The table, compute and traffic settings alone. */
export function readAwsResourcesConfig(env: Env = process.env): Readonly<AwsResourcesConfig> {
  return Object.freeze({
    tableName: required(env, 'KILN_TABLE_NAME'),
    launchTemplateId: required(env, 'KILN_LAUNCH_TEMPLATE_ID'),
    subnetIds: Object.freeze(requiredList(env, 'KILN_SUBNET_IDS')),
    securityGroupIds: Object.freeze(list(env.KILN_SECURITY_GROUP_IDS ?? '')),
    vpcId: required(env, 'KILN_VPC_ID'),
    listenerArn: required(env, 'KILN_LISTENER_ARN'),
    endpointDomain: required(env, 'KILN_ENDPOINT_DOMAIN'),
    instancePort: port(env, 'KILN_INSTANCE_PORT'),
    defaultInstanceType: optional(env, 'KILN_DEFAULT_INSTANCE_TYPE') ?? DEFAULT_INSTANCE_TYPE,
  });
}

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
