import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import {
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  EC2Client,
  type Instance as Ec2Instance,
  type InstanceStateName,
  TerminateInstancesCommand,
  type TerminateInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import {
  type Action,
  DeleteRuleCommand,
  DeleteTargetGroupCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  type DescribeTagsCommandInput,
  DescribeTargetGroupsCommand,
  type DescribeTargetGroupsCommandInput,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ModifyRuleCommand,
  ModifyTargetGroupAttributesCommand,
  TargetGroupNotFoundException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { Ec2Compute } from '../../functions/adapters/aws/ec2-compute.ts';
import { ElbTraffic, targetGroupName } from '../../functions/adapters/aws/elb-traffic.ts';
import { reapOrphans } from '../../functions/core/upkeep/reaper.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';
import { sampleSpec } from '../support/specs.ts';

const ec2 = mockClient(EC2Client);
const elb = mockClient(ElasticLoadBalancingV2Client);
const ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012';
const LISTENER = `${ARN}:listener/app/kiln/50dc6c495c0c9188/f2f7dc8efc522ab2`;
const NOW = new Date('2026-11-02T12:00:00.000Z');
const LIVE = 'shop-v0001';
/** Launched behind the store's back an hour ago, and a minute ago. */
const ORPHAN = 'shop-v0007';
const YOUNG = 'shop-v0008';

const groupArn = (stackId: string) => `${ARN}:targetgroup/${targetGroupName(stackId)}/73e2d6bc24d8a067`;
const ruleArn = (environment: string) =>
  `${LISTENER.replace(':listener/', ':listener-rule/')}/${environment}`;
const managed = (environment: string, stackId?: string) => ({
  'kiln:managed': 'true',
  'kiln:environment': environment,
  ...(stackId ? { 'kiln:stack-id': stackId } : {}),
});

/**
 * Issue 9 item 7 on AWS, at the SDK command level: the real EC2 and ELB adapters against mocked
 * clients, the real store on the embedded DynamoDB. EC2 and the ALB are modelled as far as the reaper
 * looks at them: instances with tags, state and launch time; target groups and rules with tags.
 */
describe('the orphan reaper on AWS', () => {
  let database: TestDatabase;
  let instances: Map<string, { stackId: string; state: InstanceStateName; launched: string }>;
  let tags: Record<string, Record<string, string>>;
  let groups: Set<string>;
  let rules: Set<string>;

  before(async () => {
    database = await startTestDatabase();
    const { store } = database;
    const at = NOW.toISOString();
    await store.createEnvironment({
      name: 'shop',
      team: 'platform',
      tier: 'dev',
      spec: sampleSpec(),
      version: 1,
      generation: 1,
      status: 'live',
      createdAt: at,
      updatedAt: at,
    });
    await store.putStackIfAbsent({
      environment: 'shop',
      stackId: LIVE,
      generation: 1,
      deploymentId: 'd-1',
      spec: sampleSpec(),
      status: 'live',
      instances: [],
      createdAt: at,
      updatedAt: at,
    });
  });

  after(() => database.close());

  beforeEach(() => {
    ec2.reset();
    elb.reset();
    instances = new Map([
      ['i-live', { stackId: LIVE, state: 'running', launched: '2026-11-02T09:00:00.000Z' }],
      ['i-orphan', { stackId: ORPHAN, state: 'running', launched: '2026-11-02T11:00:00.000Z' }],
      ['i-young', { stackId: YOUNG, state: 'running', launched: '2026-11-02T11:59:00.000Z' }],
    ]);
    groups = new Set([groupArn(LIVE), groupArn(ORPHAN)]);
    rules = new Set([ruleArn('shop'), ruleArn('ghost')]);
    tags = {
      [groupArn(LIVE)]: managed('shop', LIVE),
      [groupArn(ORPHAN)]: managed('shop', ORPHAN),
      [ruleArn('shop')]: managed('shop'),
      [ruleArn('ghost')]: managed('ghost'),
    };

    const described = (id: string): Ec2Instance => {
      const instance = instances.get(id);
      return {
        InstanceId: id,
        State: { Name: instance?.state },
        LaunchTime: new Date(instance?.launched ?? 0),
        Tags: [
          { Key: 'kiln:managed', Value: 'true' },
          { Key: 'kiln:stack-id', Value: instance?.stackId },
        ],
      };
    };
    ec2.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => {
      const filter = (name: string) => input.Filters?.find((f) => f.Name === name)?.Values ?? [];
      const ids = [...instances.keys()].filter((id) => {
        const instance = instances.get(id);
        if (!instance) return false;
        const stacks = filter('tag:kiln:stack-id');
        const states = filter('instance-state-name');
        return (
          (stacks.length === 0 || stacks.includes(instance.stackId)) &&
          (states.length === 0 || states.includes(instance.state))
        );
      });
      return { Reservations: [{ Instances: ids.map(described) }] };
    });
    ec2.on(TerminateInstancesCommand).callsFake((input: TerminateInstancesCommandInput) => {
      for (const id of input.InstanceIds ?? []) {
        const instance = instances.get(id);
        if (instance) instance.state = 'terminated';
      }
      return {};
    });

    const forward: Action = {
      Type: 'forward',
      ForwardConfig: { TargetGroups: [{ TargetGroupArn: groupArn(LIVE), Weight: 100 }] },
    };
    elb.on(DescribeRulesCommand).callsFake(() => ({
      Rules: [
        { RuleArn: `${LISTENER}/default`, IsDefault: true, Priority: 'default' },
        ...[...rules].map((arn, index) => ({
          RuleArn: arn,
          Priority: String(index + 1),
          Actions: arn === ruleArn('shop') ? [forward] : [],
        })),
      ],
    }));
    elb.on(DescribeTagsCommand).callsFake((input: DescribeTagsCommandInput) => ({
      TagDescriptions: (input.ResourceArns ?? []).map((arn) => ({
        ResourceArn: arn,
        Tags: Object.entries(tags[arn] ?? {}).map(([Key, Value]) => ({ Key, Value })),
      })),
    }));
    elb.on(DescribeTargetGroupsCommand).callsFake((input: DescribeTargetGroupsCommandInput) => {
      const all = [...groups].map((arn) => ({
        TargetGroupArn: arn,
        TargetGroupName: arn.split('/')[1],
        VpcId: 'vpc-kiln',
      }));
      if (!input.Names) return { TargetGroups: all };
      const named = all.filter((group) => input.Names?.includes(group.TargetGroupName ?? ''));
      if (named.length === 0) {
        throw new TargetGroupNotFoundException({ message: 'not found', $metadata: {} });
      }
      return { TargetGroups: named };
    });
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });
    elb.on(ModifyTargetGroupAttributesCommand).resolves({});
    elb.on(ModifyRuleCommand).resolves({});
    elb.on(DeleteTargetGroupCommand).callsFake((input: { TargetGroupArn: string }) => {
      groups.delete(input.TargetGroupArn);
      return {};
    });
    elb.on(DeleteRuleCommand).callsFake((input: { RuleArn: string }) => {
      rules.delete(input.RuleArn);
      return {};
    });
  });

  function ports() {
    const noSleep = async () => undefined;
    return {
      store: database.store,
      compute: new Ec2Compute({
        client: new EC2Client({ region: 'eu-west-1' }),
        launchTemplateId: 'lt-0kiln',
        subnetIds: ['subnet-a'],
        securityGroupIds: [],
        instancePort: 8080,
        defaultInstanceType: 't4g.small',
        sleep: noSleep,
      }),
      traffic: new ElbTraffic({
        client: new ElasticLoadBalancingV2Client({ region: 'eu-west-1' }),
        listenerArn: LISTENER,
        vpcId: 'vpc-kiln',
        endpointDomain: 'apps.example.com',
        instancePort: 8080,
        cloudWatch: new CloudWatchClient({ region: 'eu-west-1' }),
        wakerTargetGroupArn: `arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/waker-Kiln/0f1e2d3c4b5a6978`,
        sleep: noSleep,
      }),
      clock: { now: () => NOW },
    };
  }

  it('terminates the instance and deletes the target group no stack wants, and leaves the wanted and the young', async () => {
    const report = await reapOrphans(ports());

    assert.deepEqual(report.failed, []);
    assert.deepEqual(
      ec2.commandCalls(TerminateInstancesCommand).map((call) => call.args[0].input.InstanceIds),
      [['i-orphan']],
    );
    assert.deepEqual(
      elb.commandCalls(DeleteTargetGroupCommand).map((call) => call.args[0].input.TargetGroupArn),
      [groupArn(ORPHAN)],
    );
    assert.deepEqual(
      elb.commandCalls(DeleteRuleCommand).map((call) => call.args[0].input.RuleArn),
      [ruleArn('ghost')],
      "only the rule of an environment that does not exist; the live environment's stays",
    );
    assert.equal(
      elb.commandCalls(ModifyRuleCommand).length,
      0,
      "the live environment's routing is untouched",
    );
    assert.deepEqual(report.spared, [{ stackId: YOUNG, launchedAt: '2026-11-02T11:59:00.000Z' }]);
    assert.equal(instances.get('i-live')?.state, 'running');
    assert.equal(instances.get('i-young')?.state, 'running');

    const audit = (await database.store.listAudit('shop')).filter(
      (event) => event.action === 'orphan.reaped',
    );
    assert.deepEqual(
      audit.map(({ reason, detail }) => ({ reason, detail })),
      [
        {
          reason: `no record of stack ${ORPHAN}, and no unfinished deployment creates it`,
          detail: { stackId: ORPHAN, instanceIds: ['i-orphan'], trafficIn: ['shop'] },
        },
      ],
    );

    // A second run finds only what is wanted and the young one: it removes nothing more.
    ec2.resetHistory();
    elb.resetHistory();
    const again = await reapOrphans(ports());
    assert.deepEqual(again.reaped, []);
    assert.equal(ec2.commandCalls(TerminateInstancesCommand).length, 0);
    assert.equal(elb.commandCalls(DeleteTargetGroupCommand).length, 0);
    assert.equal(elb.commandCalls(DeleteRuleCommand).length, 0);
  });
});
