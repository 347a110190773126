import { Duration, RemovalPolicy, Stack, Tags, Validations } from 'aws-cdk-lib';
import {
  CfnLaunchTemplate,
  FlowLogDestination,
  FlowLogTrafficType,
  type IVpc,
  Peer,
  Port,
  SecurityGroup,
  type SelectedSubnets,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import {
  type ApplicationListener,
  ApplicationLoadBalancer,
  ListenerAction,
} from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { InstanceProfile, ManagedPolicy, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { MANAGED_TAG } from '../../functions/adapters/aws/tags.ts';

export interface KilnNetworkProps {
  /** An existing VPC to use (context `vpcId`); unset: Kiln creates its own. */
  vpcId?: string;
  /** Port every Kiln instance serves on; the ALB reaches instances on it and nothing else. */
  instancePort: number;
}

/**
 * Where Kiln's stacks run and how traffic reaches them: the VPC, an internet-facing ALB whose HTTP
 * listener answers 404 until environments add host-header rules at runtime, the instances' security
 * group (instance port from the ALB only), their role (SSM managed, no SSH) and the launch template every
 * stack's instances start from (Kiln sets ImageId and InstanceType per stack, and the root volume: see
 * the launch template).
 */
export class KilnNetwork extends Construct {
  readonly vpc: IVpc;
  /** Subnets instances launch into: private with egress (SSM and artifact downloads), else isolated. */
  readonly instanceSubnets: SelectedSubnets;
  readonly loadBalancer: ApplicationLoadBalancer;
  readonly listener: ApplicationListener;
  readonly instanceSecurityGroup: SecurityGroup;
  readonly instanceRole: Role;
  readonly launchTemplate: CfnLaunchTemplate;

  constructor(scope: Construct, id: string, props: KilnNetworkProps) {
    super(scope, id);
    this.vpc = props.vpcId ? Vpc.fromLookup(this, 'Vpc', { vpcId: props.vpcId }) : this.createVpc();
    this.instanceSubnets = selectInstanceSubnets(this.vpc);

    const albSecurityGroup = new SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: this.vpc,
      description: 'Kiln ALB: HTTP from anywhere, out to Kiln instances only',
      allowAllOutbound: false,
    });
    albSecurityGroup.addIngressRule(Peer.anyIpv4(), Port.tcp(80), 'HTTP from the internet');
    Validations.of(albSecurityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason:
        'The ALB is the public entry point of every Kiln environment, so port 80 must be open to the internet; it forwards only to Kiln instances on the instance port.',
    });

    this.instanceSecurityGroup = new SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc: this.vpc,
      description: `Kiln instances: port ${props.instancePort} from the Kiln ALB only`,
      // Instances reach SSM and fetch artifacts over HTTPS through the NAT gateway.
      allowAllOutbound: true,
    });
    this.instanceSecurityGroup.addIngressRule(
      albSecurityGroup,
      Port.tcp(props.instancePort),
      'Traffic and health checks from the Kiln ALB',
    );
    albSecurityGroup.addEgressRule(
      this.instanceSecurityGroup,
      Port.tcp(props.instancePort),
      'Traffic and health checks to Kiln instances',
    );

    this.loadBalancer = new ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: this.vpc,
      internetFacing: true,
      securityGroup: albSecurityGroup,
      dropInvalidHeaderFields: true,
    });
    this.loadBalancer.logAccessLogs(this.createAccessLogBucket());
    this.listener = this.loadBalancer.addListener('Http', {
      port: 80,
      open: false,
      // Environments add host-header rules at runtime; anything else is not a Kiln environment.
      defaultAction: ListenerAction.fixedResponse(404, {
        contentType: 'text/plain',
        messageBody: 'No Kiln environment answers at this host.',
      }),
    });
    // Kiln's runtime IAM changes rules and target groups only on resources carrying the management tag.
    Tags.of(this.loadBalancer).add(MANAGED_TAG.key, MANAGED_TAG.value);
    Tags.of(this.listener).add(MANAGED_TAG.key, MANAGED_TAG.value);

    this.instanceRole = new Role(this, 'InstanceRole', {
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: 'Kiln stack instances: Systems Manager access instead of SSH keys',
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    Validations.of(this.instanceRole).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
      reason:
        'AmazonSSMManagedInstanceCore is the policy AWS maintains for the SSM agent (Session Manager instead of SSH); a copy would drift from what the agent needs.',
    });
    const instanceProfile = new InstanceProfile(this, 'InstanceProfile', { role: this.instanceRole });

    this.launchTemplate = new CfnLaunchTemplate(this, 'LaunchTemplate', {
      launchTemplateData: {
        iamInstanceProfile: { arn: instanceProfile.instanceProfileArn },
        securityGroupIds: [this.instanceSecurityGroup.securityGroupId],
        metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1 },
        // No block device mappings: a mapping names a device, and AMIs differ in their root device's name
        // (/dev/xvda, /dev/sda1), so a fixed one gives other AMIs an extra volume. Kiln maps each image's
        // own root device, encrypted, at RunInstances (functions/adapters/aws/ec2-images.ts).
        monitoring: { enabled: true },
        // Stacks are immutable: an instance that shuts down is gone, never restarted in place.
        instanceInitiatedShutdownBehavior: 'terminate',
        tagSpecifications: ['instance', 'volume', 'network-interface'].map((resourceType) => ({
          resourceType,
          tags: [{ key: MANAGED_TAG.key, value: MANAGED_TAG.value }],
        })),
      },
      tagSpecifications: [
        { resourceType: 'launch-template', tags: [{ key: MANAGED_TAG.key, value: MANAGED_TAG.value }] },
      ],
    });
  }

  /** The launch template's ARN, for scoping `ec2:RunInstances`. */
  get launchTemplateArn(): string {
    return Stack.of(this).formatArn({
      service: 'ec2',
      resource: 'launch-template',
      resourceName: this.launchTemplate.ref,
    });
  }

  private createVpc(): Vpc {
    const vpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      // One NAT gateway: instances only need egress for SSM and artifacts, not zone-redundant egress.
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'instances', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
      ],
    });
    vpc.addFlowLog('FlowLog', {
      destination: FlowLogDestination.toCloudWatchLogs(
        new LogGroup(this, 'FlowLogs', {
          retention: RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
      ),
      // Refused connections are what an investigation needs; ALL would mostly record ALB health checks.
      trafficType: FlowLogTrafficType.REJECT,
    });
    return vpc;
  }

  private createAccessLogBucket(): Bucket {
    const bucket = new Bucket(this, 'AccessLogs', {
      // ELB delivers access logs only to buckets encrypted with S3-managed keys.
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      lifecycleRules: [{ expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket only receives the ALB access logs; logging access to it would need yet another log bucket, and only ELB log delivery writes to it.',
    });
    return bucket;
  }
}

function selectInstanceSubnets(vpc: IVpc): SelectedSubnets {
  return vpc.selectSubnets({
    subnetType: vpc.privateSubnets.length > 0 ? SubnetType.PRIVATE_WITH_EGRESS : SubnetType.PRIVATE_ISOLATED,
  });
}
