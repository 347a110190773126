import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { targetGroupName } from '../../functions/adapters/aws/elb-traffic.ts';
import { ENTRY_POINTS, ROOT_PORTS, wakerOf } from '../../functions/manifest.ts';
import { TARGET_GROUP_NAME_PREFIX } from '../../infra/constructs/compute-permissions.ts';
import { type CfnResource, functionIds, kiln, logicalIdOf, resourcesOf } from './kiln-template.ts';

const ELB_SERVICE = 'elasticloadbalancing.amazonaws.com';

function wakerTargetGroup(): { id: string; resource: CfnResource } {
  const { stack, template } = kiln();
  const id = logicalIdOf(stack, stack.waker.targetGroup);
  const resource = resourcesOf(template, 'AWS::ElasticLoadBalancingV2::TargetGroup')[id];
  assert.ok(resource, 'the waker target group is in the template');
  return { id, resource };
}

function functionId(name: string): string {
  const id = functionIds(kiln().stack).get(name);
  assert.ok(id, `no function for ${name}`);
  return id;
}

describe('the waker target', () => {
  it('is a Lambda target group targeting the wakeOnRequest function', () => {
    assert.equal(wakerOf().name, 'wakeOnRequest');
    const { resource } = wakerTargetGroup();
    assert.equal(resource.Properties.TargetType, 'lambda');
    assert.deepEqual(resource.Properties.Targets, [
      { Id: { 'Fn::GetAtt': [functionId('wakeOnRequest'), 'Arn'] } },
    ]);
    // One waker, shared by every environment; stacks get their target groups at run time.
    kiln().template.resourceCountIs('AWS::ElasticLoadBalancingV2::TargetGroup', 1);
  });

  it('is beyond what Kiln deletes at run time: neither a kiln- name nor Kiln tags', () => {
    const { resource } = wakerTargetGroup();
    const name = String(resource.Properties.Name);
    assert.ok(!name.toLowerCase().startsWith(TARGET_GROUP_NAME_PREFIX), name);
    assert.ok(targetGroupName('any-stack').startsWith(TARGET_GROUP_NAME_PREFIX));
    assert.equal(resource.Properties.Tags, undefined);
  });

  it('may be invoked by the waker target group only, which registers the function once it may', () => {
    const { template } = kiln();
    const { id, resource } = wakerTargetGroup();
    const permissions = Object.entries(resourcesOf(template, 'AWS::Lambda::Permission')).filter(
      ([, permission]) => permission.Properties.Principal === ELB_SERVICE,
    );
    assert.equal(permissions.length, 1, 'no other function may be invoked by a load balancer');
    const [permissionId, permission] = permissions[0] as [string, CfnResource];
    assert.deepEqual(permission.Properties.FunctionName, {
      'Fn::GetAtt': [functionId('wakeOnRequest'), 'Arn'],
    });
    assert.equal(permission.Properties.Action, 'lambda:InvokeFunction');
    assert.deepEqual(permission.Properties.SourceAccount, { Ref: 'AWS::AccountId' });
    assert.deepEqual(permission.Properties.SourceArn, {
      'Fn::Join': [
        '',
        [
          'arn:aws:elasticloadbalancing:us-east-1:',
          { Ref: 'AWS::AccountId' },
          `:targetgroup/${resource.Properties.Name}/*`,
        ],
      ],
    });
    assert.deepEqual(resource.DependsOn, [permissionId], `${id} registers the function after the permission`);
  });

  it('its ARN reaches exactly the functions whose composition root builds the traffic port', () => {
    const { stack, template } = kiln();
    const functions = resourcesOf(template, 'AWS::Lambda::Function');
    const arn = { Ref: logicalIdOf(stack, stack.waker.targetGroup) };
    const told: string[] = [];
    for (const entry of ENTRY_POINTS) {
      const { Variables } = (functions[functionId(entry.name)] as CfnResource).Properties.Environment as {
        Variables: Record<string, unknown>;
      };
      if (Variables.KILN_WAKER_TARGET_GROUP_ARN === undefined) continue;
      assert.deepEqual(Variables.KILN_WAKER_TARGET_GROUP_ARN, arn, entry.name);
      told.push(entry.name);
    }
    const trafficFunctions = ENTRY_POINTS.filter((entry) => ROOT_PORTS[entry.root].includes('traffic')).map(
      (entry) => entry.name,
    );
    assert.deepEqual(told, trafficFunctions);
    assert.ok(told.includes('ParkEndpoint') && told.includes('sweepIdle') && !told.includes('wakeOnRequest'));
  });

  it('is a stack output, for hybrid mode', () => {
    const { stack, template } = kiln();
    template.hasOutput('WakerTargetGroupArn', {
      Value: { Ref: logicalIdOf(stack, stack.waker.targetGroup) },
    });
  });
});

describe("reading the ALB's request counts", () => {
  it('is granted to the idle sweep and the canary judgement only: cloudwatch:GetMetricData, on "*" as the action takes no resource', () => {
    const { stack, template } = kiln();
    const byRole = new Map(
      [...stack.functions.byName].map(([name, fn]) => [logicalIdOf(stack, fn.role ?? fn), name] as const),
    );
    const readers: string[] = [];
    for (const policy of Object.values(resourcesOf(template, 'AWS::IAM::Policy'))) {
      const statements = (policy.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> })
        .Statement;
      const metrics = statements.filter((statement) =>
        [statement.Action].flat().some((action) => String(action).startsWith('cloudwatch:')),
      );
      if (metrics.length === 0) continue;
      assert.deepEqual(metrics, [
        { Sid: 'ReadAlbRequestCounts', Effect: 'Allow', Action: 'cloudwatch:GetMetricData', Resource: '*' },
      ]);
      const roles = (policy.Properties.Roles ?? []) as Array<{ Ref: string }>;
      readers.push(...roles.map((role) => byRole.get(role.Ref) ?? role.Ref));
    }
    // The idle sweep (an environment's activity) and a canary's judgement (its new stack's errors, latency).
    assert.deepEqual(readers.sort(), ['JudgeCanary', 'sweepIdle']);
  });
});

/** The scheduled upkeep of issue 9, as the manifest lists it. */
const UPKEEP: Record<string, string> = {
  reapOrphans: 'kiln-orphan-reaper',
  repairDrift: 'kiln-drift-check',
};

describe('scheduled upkeep', () => {
  it('is in the manifest: a schedule every 5 minutes per upkeep handler', () => {
    for (const [name, schedule] of Object.entries(UPKEEP)) {
      const entry = ENTRY_POINTS.find((found) => found.name === name);
      assert.deepEqual(entry?.trigger, { type: 'schedule', schedule, expression: 'rate(5 minutes)' }, name);
      assert.equal(entry?.module, `schedules/${name}`);
    }
  });

  it('runs on EventBridge Scheduler in UTC, each schedule invoking its own function with its name', () => {
    const { stack, template } = kiln();
    const schedules = Object.values(resourcesOf(template, 'AWS::Scheduler::Schedule'));
    for (const [name, schedule] of Object.entries(UPKEEP)) {
      const found = schedules.find((candidate) => candidate.Properties.Description === `Kiln: ${name}`);
      assert.ok(found, name);
      assert.equal(found.Properties.ScheduleExpression, 'rate(5 minutes)');
      assert.equal(found.Properties.ScheduleExpressionTimezone, 'Etc/UTC');
      assert.equal(found.Properties.State, 'ENABLED');
      const target = found.Properties.Target as { Arn: unknown; Input: string };
      assert.deepEqual(target.Arn, { 'Fn::GetAtt': [functionIds(stack).get(name), 'Arn'] });
      assert.equal(JSON.parse(target.Input).schedule, schedule);
    }
  });
});
