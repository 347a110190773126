import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { KilnAlarms } from './constructs/alarms.ts';
import { KilnApi } from './constructs/api.ts';
import { ComputePermissions } from './constructs/compute-permissions.ts';
import { KilnFunctions } from './constructs/functions.ts';
import { KilnNetwork } from './constructs/network.ts';
import { KilnTable } from './constructs/table.ts';
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
  /** Root device name of the AMIs Kiln launches (context `rootDeviceName`); default /dev/xvda. */
  rootDeviceName?: string;
}

/**
 * Everything Kiln needs in one account and region: the table, where stacks run and how traffic
 * reaches them, the handlers, the workflows, the REST API and the alarms.
 *
 * Not here yet, on purpose: no SQS queue (+DLQ) and no EventBridge rules or Scheduler schedules.
 * Their triggers (Git push webhooks and events, idle sweep, orphan reaper, lease reclaim) arrive in
 * later issues with their handlers; a queue or rule with nothing behind it would only be cost and
 * findings. They go in their own constructs (events.ts) with their DLQ-depth alarms.
 */
export class KilnStack extends Stack {
  readonly table: KilnTable;
  readonly network: KilnNetwork;
  readonly permissions: ComputePermissions;
  readonly functions: KilnFunctions;
  readonly workflows: KilnWorkflows;
  readonly api: KilnApi;
  readonly alarms: KilnAlarms;

  constructor(scope: Construct, id: string, props: KilnStackProps = {}) {
    super(scope, id, props);

    const table = new KilnTable(this, 'State');
    const network = new KilnNetwork(this, 'Network', {
      ...(props.vpcId ? { vpcId: props.vpcId } : {}),
      instancePort: INSTANCE_PORT,
      rootDeviceName: props.rootDeviceName ?? '/dev/xvda',
    });
    const permissions = new ComputePermissions(this, 'ComputePermissions', network);

    const workflows = workflowFiles().map(({ workflow }) => workflow);
    const environment: Record<string, string> = {
      KILN_TABLE_NAME: table.table.tableName,
      ...Object.fromEntries(
        workflows.map((workflow) => [
          `KILN_${workflow.toUpperCase()}_STATE_MACHINE_ARN`,
          stateMachineArn(this, workflow),
        ]),
      ),
      KILN_LAUNCH_TEMPLATE_ID: network.launchTemplate.ref,
      KILN_SUBNET_IDS: network.instanceSubnets.subnetIds.join(','),
      KILN_SECURITY_GROUP_IDS: network.instanceSecurityGroup.securityGroupId,
      KILN_VPC_ID: network.vpc.vpcId,
      KILN_LISTENER_ARN: network.listener.listenerArn,
      KILN_ENDPOINT_DOMAIN: props.endpointDomain ?? network.loadBalancer.loadBalancerDnsName,
      KILN_INSTANCE_PORT: String(INSTANCE_PORT),
      KILN_DEFAULT_INSTANCE_TYPE: DEFAULT_INSTANCE_TYPE,
    };

    const functions = new KilnFunctions(this, 'Functions', {
      environment,
      table,
      permissions,
      workflows: {
        stateMachineArns: workflows.map((workflow) => stateMachineArn(this, workflow)),
        executionArns: workflows.map((workflow) => executionArns(this, workflow)),
      },
    });
    const stateMachines = new KilnWorkflows(this, 'Workflows', { functions: functions.byName });
    const api = new KilnApi(this, 'Api', { functions: functions.byName });
    const alarms = new KilnAlarms(this, 'Alarms', {
      stateMachines: stateMachines.stateMachines,
      functions: functions.byName,
    });

    this.table = table;
    this.network = network;
    this.permissions = permissions;
    this.functions = functions;
    this.workflows = stateMachines;
    this.api = api;
    this.alarms = alarms;

    new CfnOutput(this, 'ApiUrl', { value: api.api.url, description: 'Base URL of the REST API (SigV4)' });
    new CfnOutput(this, 'TableName', { value: table.table.tableName });
    new CfnOutput(this, 'LoadBalancerDnsName', { value: network.loadBalancer.loadBalancerDnsName });
    new CfnOutput(this, 'AlarmTopicArn', { value: alarms.topic.topicArn });
    for (const [workflow, stateMachine] of stateMachines.stateMachines) {
      new CfnOutput(this, `${workflow}StateMachineArn`, { value: stateMachine.stateMachineArn });
    }
  }
}
