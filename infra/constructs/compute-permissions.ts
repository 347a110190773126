import { type ArnComponents, Fn, Stack, Validations } from 'aws-cdk-lib';
import { type IRole, Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { MANAGED_TAG } from '../../functions/adapters/aws/tags.ts';
import { acknowledgeWildcardResource as acknowledgeResource } from './nag.ts';
import type { KilnNetwork } from './network.ts';

/** The resource is tagged by Kiln: what every mutating call on an existing resource requires. */
const RESOURCE_IS_MANAGED = { StringEquals: { [`aws:ResourceTag/${MANAGED_TAG.key}`]: MANAGED_TAG.value } };
/** The request tags what it creates as Kiln's: what every creating call requires. */
const REQUEST_TAGS_MANAGED = { StringEquals: { [`aws:RequestTag/${MANAGED_TAG.key}`]: MANAGED_TAG.value } };

/**
 * The reads Kiln's adapters make (functions/adapters/aws/ec2-compute.ts, ec2-images.ts, elb-traffic.ts; a
 * test keeps these lists and the adapters' commands in step). No EC2 or ELB Describe action supports
 * resource-level permissions.
 */
export const EC2_READ_ACTIONS = ['ec2:DescribeInstances'];
/** Only launching reads images: which AMI an artifact names, and its root device (ec2-images.ts). */
export const EC2_IMAGE_READ_ACTIONS = ['ec2:DescribeImages'];
export const ELB_READ_ACTIONS = [
  'elasticloadbalancing:DescribeRules',
  'elasticloadbalancing:DescribeTags',
  'elasticloadbalancing:DescribeTargetGroups',
  'elasticloadbalancing:DescribeTargetHealth',
];

/** What reading an environment's activity adds to the reads: the ALB's request counts (alb-request-counts.ts). */
export const REQUEST_COUNT_ACTIONS = ['cloudwatch:GetMetricData'];

/** What draining a stack's target group and deleting it takes (see ElbTraffic.drainStack). */
const DRAIN_AND_DELETE_TARGET_GROUP_ACTIONS = [
  'elasticloadbalancing:DeregisterTargets',
  'elasticloadbalancing:ModifyTargetGroupAttributes',
  'elasticloadbalancing:DeleteTargetGroup',
] as const;

/** Target groups are named `kiln-<hash of the stack id>` by the traffic adapter (targetGroupName). */
export const TARGET_GROUP_NAME_PREFIX = 'kiln-';

const DESCRIBE_REASON =
  'EC2 and ELB Describe actions support no resource-level permissions, so they can only be granted on "*"; the statement names each read Kiln makes (no Describe*, so no ec2:DescribeInstanceAttribute reading user data).';

/**
 * What Kiln's functions may do to EC2 and ELB, one policy per capability, attached only to the task
 * functions that need it. Every mutating call is bound to Kiln's management tag (`kiln:managed=true`):
 * creating calls must set it (`aws:RequestTag`), calls on existing resources require it
 * (`aws:ResourceTag`), and tags may only be written as part of the creating call. So Kiln can neither
 * launch untagged instances nor touch an instance, target group or rule it did not create.
 */
export class ComputePermissions extends Construct {
  readonly ec2Read: Policy;
  readonly ec2Launch: Policy;
  readonly ec2Terminate: Policy;
  readonly elbRead: Policy;
  readonly requestCounts: Policy;
  readonly elbManage: Policy;
  readonly elbRemove: Policy;

  constructor(scope: Construct, id: string, network: KilnNetwork) {
    super(scope, id);
    const stack = Stack.of(this);
    const arn = (components: ArnComponents) => stack.formatArn(components);
    const ec2 = (resource: string, resourceName: string, account?: string) =>
      arn({ service: 'ec2', resource, resourceName, ...(account === undefined ? {} : { account }) });
    const launchedResources = ['instance', 'volume', 'network-interface'].map((type) => ec2(type, '*'));

    this.ec2Read = new Policy(this, 'Ec2Read', {
      statements: [
        new PolicyStatement({ sid: 'DescribeInstances', actions: EC2_READ_ACTIONS, resources: ['*'] }),
      ],
    });
    Validations.of(this.ec2Read).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: DESCRIBE_REASON,
    });

    this.ec2Launch = new Policy(this, 'Ec2Launch', {
      statements: [
        new PolicyStatement({
          sid: 'DescribeImagesToChooseWhatToLaunch',
          actions: EC2_IMAGE_READ_ACTIONS,
          resources: ['*'],
        }),
        new PolicyStatement({
          sid: 'LaunchOnlyTaggedInstances',
          actions: ['ec2:RunInstances'],
          resources: launchedResources,
          conditions: REQUEST_TAGS_MANAGED,
        }),
        new PolicyStatement({
          sid: 'LaunchFromKilnTemplateIntoKilnNetwork',
          actions: ['ec2:RunInstances'],
          resources: [
            // The AMI is each stack's artifact, chosen per spec at run time: any image in the region, and
            // the snapshots behind its EBS root volume (owned by whoever owns the AMI).
            ec2('image', '*', ''),
            ec2('snapshot', '*', ''),
            network.launchTemplateArn,
            ec2('security-group', network.instanceSecurityGroup.securityGroupId),
            ...network.instanceSubnets.subnetIds.map((subnetId) => ec2('subnet', subnetId)),
          ],
        }),
        new PolicyStatement({
          sid: 'TagOnlyWhileLaunching',
          actions: ['ec2:CreateTags'],
          resources: launchedResources,
          conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
        }),
        new PolicyStatement({
          sid: 'PassInstanceRoleToEc2',
          actions: ['iam:PassRole'],
          resources: [network.instanceRole.roleArn],
          conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
        }),
      ],
    });
    const launchedReason = (type: string) =>
      `${type} ids are only known once RunInstances creates them; the statement allows creating (and tagging during creation) only when the request tags the ${type} ${MANAGED_TAG.key}=${MANAGED_TAG.value}.`;
    acknowledgeResource(this.ec2Launch, ec2('instance', '*'), launchedReason('instance'));
    acknowledgeResource(this.ec2Launch, ec2('volume', '*'), launchedReason('volume'));
    acknowledgeResource(this.ec2Launch, ec2('network-interface', '*'), launchedReason('network interface'));
    const imageReason =
      "The AMI is each stack's artifact, named by the environment's spec at run time (and its EBS snapshots belong to whoever built it); what may be launched is still bound by the tag, launch template, subnet and security-group statements.";
    acknowledgeResource(this.ec2Launch, ec2('image', '*', ''), imageReason);
    acknowledgeResource(this.ec2Launch, ec2('snapshot', '*', ''), imageReason);
    Validations.of(this.ec2Launch).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ec2:DescribeImages supports no resource-level permissions, so it can only be granted on "*"; it is the only action on "*" in this policy, a read that resolves the spec\'s artifact to an AMI and its root device, and it is part of the launch grant so that no other function gets it.',
    });

    this.ec2Terminate = new Policy(this, 'Ec2Terminate', {
      statements: [
        new PolicyStatement({
          sid: 'TerminateOnlyKilnInstances',
          actions: ['ec2:TerminateInstances'],
          resources: [ec2('instance', '*')],
          conditions: RESOURCE_IS_MANAGED,
        }),
      ],
    });
    acknowledgeResource(
      this.ec2Terminate,
      ec2('instance', '*'),
      `Instance ids are created at run time; termination is allowed only on instances tagged ${MANAGED_TAG.key}=${MANAGED_TAG.value}.`,
    );

    const elb = (resource: string, resourceName: string) =>
      arn({ service: 'elasticloadbalancing', resource, resourceName });
    const targetGroups = elb('targetgroup', `${TARGET_GROUP_NAME_PREFIX}*`);
    // arn:...:listener/app/<name>/<lb id>/<listener id>: rules live under the listener's full name.
    const listenerId = Fn.select(4, Fn.split('/', network.listener.listenerArn));
    const listenerRules = elb(
      'listener-rule',
      `${network.loadBalancer.loadBalancerFullName}/${listenerId}/*`,
    );

    const changeKilnRules = (...more: string[]) =>
      new PolicyStatement({
        sid: 'ChangeOnlyKilnRules',
        actions: ['elasticloadbalancing:ModifyRule', 'elasticloadbalancing:DeleteRule', ...more],
        resources: [listenerRules],
        conditions: RESOURCE_IS_MANAGED,
      });

    this.elbRead = new Policy(this, 'ElbRead', {
      statements: [
        new PolicyStatement({ sid: 'DescribeTraffic', actions: ELB_READ_ACTIONS, resources: ['*'] }),
      ],
    });
    Validations.of(this.elbRead).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: DESCRIBE_REASON,
    });

    this.requestCounts = new Policy(this, 'RequestCounts', {
      statements: [
        new PolicyStatement({
          sid: 'ReadAlbRequestCounts',
          actions: REQUEST_COUNT_ACTIONS,
          resources: ['*'],
        }),
      ],
    });
    Validations.of(this.requestCounts).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:GetMetricData supports no resource-level permissions, so it can only be granted on "*"; it only reads metrics, and only the idle sweep gets it (the ALB\'s per-target-group request counts of environments due to sleep).',
    });

    this.elbManage = new Policy(this, 'ElbManage', {
      statements: [
        new PolicyStatement({
          sid: 'CreateOnlyTaggedTargetGroups',
          actions: ['elasticloadbalancing:CreateTargetGroup'],
          resources: [targetGroups],
          conditions: REQUEST_TAGS_MANAGED,
        }),
        new PolicyStatement({
          sid: 'CreateOnlyTaggedRulesOnKilnListener',
          actions: ['elasticloadbalancing:CreateRule'],
          resources: [network.listener.listenerArn, listenerRules],
          conditions: REQUEST_TAGS_MANAGED,
        }),
        new PolicyStatement({
          sid: 'TagOnlyWhileCreating',
          actions: ['elasticloadbalancing:AddTags'],
          resources: [targetGroups, listenerRules],
          conditions: {
            StringEquals: { 'elasticloadbalancing:CreateAction': ['CreateTargetGroup', 'CreateRule'] },
          },
        }),
        // SetRulePriorities: a stack's test route is put before its environment's rule (both Kiln's).
        changeKilnRules('elasticloadbalancing:SetRulePriorities'),
        new PolicyStatement({
          sid: 'ChangeOnlyKilnTargetGroups',
          actions: ['elasticloadbalancing:RegisterTargets', ...DRAIN_AND_DELETE_TARGET_GROUP_ACTIONS],
          resources: [targetGroups],
          conditions: RESOURCE_IS_MANAGED,
        }),
      ],
    });
    acknowledgeResource(
      this.elbManage,
      targetGroups,
      `Target groups (one per stack, named ${TARGET_GROUP_NAME_PREFIX}<hash>) are created at run time; creating requires the request to tag them ${MANAGED_TAG.key}=${MANAGED_TAG.value}, every other call requires that tag on the target group.`,
    );
    acknowledgeResource(
      this.elbManage,
      listenerRules,
      `Listener rules (one per environment, and one per stack while its hooks run) are created at run time under Kiln's own listener; creating requires the request to tag them ${MANAGED_TAG.key}=${MANAGED_TAG.value}, changing or deleting requires that tag on the rule.`,
    );

    // The reaper's share of the ALB: taking a stack's targets out of a rule and deleting what Kiln made
    // (drainStack, removeEndpoint), never creating or registering anything.
    this.elbRemove = new Policy(this, 'ElbRemove', {
      statements: [
        changeKilnRules(),
        new PolicyStatement({
          sid: 'DrainAndDeleteOnlyKilnTargetGroups',
          actions: [...DRAIN_AND_DELETE_TARGET_GROUP_ACTIONS],
          resources: [targetGroups],
          conditions: RESOURCE_IS_MANAGED,
        }),
      ],
    });
    acknowledgeResource(
      this.elbRemove,
      targetGroups,
      `Target groups are created at run time; draining and deleting one requires the tag ${MANAGED_TAG.key}=${MANAGED_TAG.value} on it.`,
    );
    acknowledgeResource(
      this.elbRemove,
      listenerRules,
      `Listener rules are created at run time under Kiln's own listener; changing or deleting one requires the tag ${MANAGED_TAG.key}=${MANAGED_TAG.value} on it.`,
    );
  }

  /** ProvisionStack: launch instances (and see them, and the images they launch from). */
  grantLaunch(role: IRole): void {
    this.ec2Read.attachToRole(role);
    this.ec2Launch.attachToRole(role);
  }

  /** DecommissionStack and the orphan reaper: terminate instances (and see them go). */
  grantTerminate(role: IRole): void {
    this.ec2Read.attachToRole(role);
    this.ec2Terminate.attachToRole(role);
  }

  /** Tasks that only observe traffic (target health). */
  grantTrafficRead(role: IRole): void {
    this.elbRead.attachToRole(role);
  }

  /** The idle sweep: an environment's rule, and the ALB's request counts of its target groups. */
  grantTrafficRequests(role: IRole): void {
    this.elbRead.attachToRole(role);
    this.requestCounts.attachToRole(role);
  }

  /** The orphan reaper: drain and delete Kiln's target groups and rules, creating nothing. */
  grantTrafficRemove(role: IRole): void {
    this.elbRead.attachToRole(role);
    this.elbRemove.attachToRole(role);
  }

  /** Tasks that create, weigh, drain or remove an environment's rule and target groups. */
  grantTrafficManage(role: IRole): void {
    this.elbRead.attachToRole(role);
    this.elbManage.attachToRole(role);
  }
}
