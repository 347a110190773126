import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { MANAGED_TAG } from '../../functions/adapters/aws/tags.ts';
import { INSTANCE_PORT } from '../../infra/kiln-stack.ts';
import { kiln, kilnStack, logicalIdOf, resourcesOf, testApp } from './kiln-template.ts';

const managedTag = { Key: MANAGED_TAG.key, Value: MANAGED_TAG.value };

describe('network and compute target', () => {
  it('has an internet-facing ALB with access logs, tagged as Kiln-managed', () => {
    kiln().template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Scheme: 'internet-facing',
      Type: 'application',
      Tags: Match.arrayWith([managedTag]),
    });
    for (const attribute of ['access_logs.s3.enabled', 'routing.http.drop_invalid_header_fields.enabled']) {
      kiln().template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
        LoadBalancerAttributes: Match.arrayWith([{ Key: attribute, Value: 'true' }]),
      });
    }
  });

  it('listens on HTTP 80 and answers 404 until environments add their host-header rules', () => {
    kiln().template.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Port: 80,
      Protocol: 'HTTP',
      DefaultActions: [
        { Type: 'fixed-response', FixedResponseConfig: Match.objectLike({ StatusCode: '404' }) },
      ],
      Tags: Match.arrayWith([managedTag]),
    });
    kiln().template.resourceCountIs('AWS::ElasticLoadBalancingV2::ListenerRule', 0);
    // Stacks get their target groups at run time; the only one made here is the waker's (upkeep.test.ts).
    kiln().template.resourceCountIs('AWS::ElasticLoadBalancingV2::TargetGroup', 1);
  });

  it('lets instances be reached on the instance port from the ALB only', () => {
    const { stack, template } = kiln();
    const instanceSg = logicalIdOf(stack, stack.network.instanceSecurityGroup);
    const ingress = Object.values(resourcesOf(template, 'AWS::EC2::SecurityGroupIngress')).filter(
      (rule) => (rule.Properties.GroupId as { 'Fn::GetAtt': string[] })['Fn::GetAtt'][0] === instanceSg,
    );
    assert.equal(ingress.length, 1);
    assert.equal(ingress[0].Properties.FromPort, INSTANCE_PORT);
    assert.equal(ingress[0].Properties.ToPort, INSTANCE_PORT);
    assert.ok('SourceSecurityGroupId' in ingress[0].Properties);
    const groups = resourcesOf(template, 'AWS::EC2::SecurityGroup');
    assert.equal(
      groups[instanceSg].Properties.SecurityGroupIngress,
      undefined,
      'no inline ingress (e.g. 0.0.0.0/0)',
    );
  });

  it('launches from a template with IMDSv2, the instance SG and an SSM-managed profile, and no AMI', () => {
    const { stack, template } = kiln();
    const templates = Object.values(resourcesOf(template, 'AWS::EC2::LaunchTemplate'));
    assert.equal(templates.length, 1);
    const data = templates[0].Properties.LaunchTemplateData as Record<string, unknown>;
    assert.equal(data.ImageId, undefined, 'Kiln sets ImageId per stack');
    assert.equal(data.InstanceType, undefined, 'Kiln sets InstanceType per stack');
    assert.deepEqual(data.MetadataOptions, {
      HttpTokens: 'required',
      HttpEndpoint: 'enabled',
      HttpPutResponseHopLimit: 1,
    });
    assert.deepEqual(data.SecurityGroupIds, [
      { 'Fn::GetAtt': [logicalIdOf(stack, stack.network.instanceSecurityGroup), 'GroupId'] },
    ]);
    assert.ok(JSON.stringify(data.IamInstanceProfile).includes('InstanceProfile'));
    template.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: Match.objectLike({
        Statement: [Match.objectLike({ Principal: { Service: 'ec2.amazonaws.com' } })],
      }),
      ManagedPolicyArns: [
        Match.objectLike({
          'Fn::Join': ['', Match.arrayWith([':iam::aws:policy/AmazonSSMManagedInstanceCore'])],
        }),
      ],
    });
  });

  it("maps no block device in the launch template: Kiln maps each image's own root device, encrypted, at launch", () => {
    // A fixed device (/dev/xvda) would give an AMI whose root is /dev/sda1 a second, invalid volume.
    const [launchTemplate] = Object.values(resourcesOf(kiln().template, 'AWS::EC2::LaunchTemplate'));
    const data = launchTemplate?.Properties.LaunchTemplateData as Record<string, unknown>;
    assert.equal(data.BlockDeviceMappings, undefined);
  });

  it('creates a VPC with a flow log when none is given', () => {
    kiln().template.resourceCountIs('AWS::EC2::VPC', 1);
    kiln().template.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceType: 'VPC',
      TrafficType: 'REJECT',
    });
  });

  it('keeps ALB access logs in a private, TLS-only bucket', () => {
    const { template } = kiln();
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      }),
    });
  });

  it('uses an existing VPC given as context instead of creating one', () => {
    // Without a cached lookup, CDK answers with its dummy VPC (vpc-12345, subnets s-12345...) and records
    // the lookup to make; those dummy ids fail CloudFormation's id formats, so that validation is off here.
    const app = testApp({ '@aws-cdk/core:validateAgainstDefaultRules': false });
    const stack = kilnStack(app, {
      vpcId: 'vpc-0abc',
      env: { account: '123456789012', region: 'us-east-1' },
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::EC2::VPC', 0);
    template.resourceCountIs('AWS::EC2::FlowLog', 0);
    // The functions that route traffic and launch instances get the VPC and its subnets.
    const variables = Object.assign(
      {},
      ...Object.values(resourcesOf(template, 'AWS::Lambda::Function')).map(
        (resource) =>
          (resource.Properties.Environment as { Variables?: object } | undefined)?.Variables ?? {},
      ),
    ) as Record<string, unknown>;
    assert.match(String(variables.KILN_VPC_ID), /^vpc-/);
    assert.match(String(variables.KILN_SUBNET_IDS), /^[^,]+(,[^,]+)+$/);
  });
});
