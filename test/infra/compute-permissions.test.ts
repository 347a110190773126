import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AnyPrincipal, Policy, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import { targetGroupName } from '../../functions/adapters/aws/elb-traffic.ts';
import { MANAGED_TAG } from '../../functions/adapters/aws/tags.ts';
import { ENTRY_POINTS, entryPoint } from '../../functions/manifest.ts';
import { TARGET_GROUP_NAME_PREFIX } from '../../infra/constructs/compute-permissions.ts';
import { checkTagConditions } from './iam-tag-conditions.ts';
import { kiln, logicalIdOf, ROOT, resourcesOf } from './kiln-template.ts';

/** A template holding one policy with these statements, as a deliberately bad (or good) example. */
function templateWith(...statements: PolicyStatement[]) {
  const stack = new Stack(new App(), 'Probe');
  const role = new Role(stack, 'Role', { assumedBy: new AnyPrincipal() });
  new Policy(stack, 'Policy', { statements, roles: [role] });
  return Template.fromStack(stack).toJSON();
}

const managed = (kind: 'Request' | 'Resource', value: string = MANAGED_TAG.value) => ({
  StringEquals: { [`aws:${kind}Tag/${MANAGED_TAG.key}`]: value },
});
const INSTANCES = 'arn:aws:ec2:us-east-1:123456789012:instance/*';

describe('tag conditions on EC2 and ELB mutations', () => {
  it('hold for every policy statement of the Kiln stack', () => {
    assert.deepEqual(checkTagConditions(kiln().template.toJSON()), []);
  });

  it('fail a statement allowing ec2:TerminateInstances on * without the tag condition', () => {
    const problems = checkTagConditions(
      templateWith(new PolicyStatement({ actions: ['ec2:TerminateInstances'], resources: ['*'] })),
    );
    assert.equal(problems.length, 1);
    assert.equal(problems[0].action, 'ec2:TerminateInstances');
    assert.match(problems[0].problem, /aws:ResourceTag\/kiln:managed/);
  });

  const bad: Array<[string, PolicyStatement, string]> = [
    ['ec2:* on *', new PolicyStatement({ actions: ['ec2:*'], resources: ['*'] }), 'ec2:TerminateInstances'],
    [
      'everything on *',
      new PolicyStatement({ actions: ['*'], resources: ['*'] }),
      'elasticloadbalancing:ModifyRule',
    ],
    [
      'NotAction, which allows all it does not name',
      new PolicyStatement({ notActions: ['s3:*'], resources: ['*'] }),
      'ec2:RunInstances',
    ],
    [
      'RunInstances on instances without a request tag',
      new PolicyStatement({ actions: ['ec2:RunInstances'], resources: [INSTANCES] }),
      'ec2:RunInstances',
    ],
    [
      'RunInstances on instances requiring another tag value',
      new PolicyStatement({
        actions: ['ec2:RunInstances'],
        resources: [INSTANCES],
        conditions: managed('Request', 'false'),
      }),
      'ec2:RunInstances',
    ],
    [
      'TerminateInstances conditioned on the request tag instead of the resource tag',
      new PolicyStatement({
        actions: ['ec2:TerminateInstances'],
        resources: [INSTANCES],
        conditions: managed('Request'),
      }),
      'ec2:TerminateInstances',
    ],
    [
      'CreateTags outside RunInstances',
      new PolicyStatement({ actions: ['ec2:CreateTags'], resources: [INSTANCES] }),
      'ec2:CreateTags',
    ],
    [
      'ELB Modify* without the resource tag',
      new PolicyStatement({ actions: ['elasticloadbalancing:Modify*'], resources: ['*'] }),
      'elasticloadbalancing:ModifyRule',
    ],
    [
      'CreateTargetGroup without the request tag',
      new PolicyStatement({ actions: ['elasticloadbalancing:CreateTargetGroup'], resources: ['*'] }),
      'elasticloadbalancing:CreateTargetGroup',
    ],
    [
      'ELB AddTags outside creation',
      new PolicyStatement({
        actions: ['elasticloadbalancing:AddTags'],
        resources: ['*'],
        conditions: managed('Request'),
      }),
      'elasticloadbalancing:AddTags',
    ],
  ];
  for (const [name, statement, action] of bad) {
    it(`fail ${name}`, () => {
      const problems = checkTagConditions(templateWith(statement));
      assert.ok(
        problems.some((problem) => problem.action === action),
        `expected a problem with ${action}, got ${JSON.stringify(problems)}`,
      );
    });
  }

  it('accept the conditioned forms and statements that guard nothing', () => {
    const problems = checkTagConditions(
      templateWith(
        new PolicyStatement({
          actions: ['ec2:TerminateInstances'],
          resources: [INSTANCES],
          conditions: managed('Resource'),
        }),
        new PolicyStatement({
          actions: ['ec2:RunInstances'],
          resources: [INSTANCES],
          conditions: managed('Request'),
        }),
        new PolicyStatement({
          actions: ['ec2:RunInstances'],
          resources: ['arn:aws:ec2:us-east-1:123456789012:subnet/subnet-1', 'arn:aws:ec2:us-east-1::image/*'],
        }),
        new PolicyStatement({
          actions: ['ec2:DescribeInstances', 'elasticloadbalancing:Describe*'],
          resources: ['*'],
        }),
      ),
    );
    assert.deepEqual(problems, []);
  });
});

/** Roles (by handler) that the policy is attached to. */
function attachedHandlers(policyId: string): string[] {
  const { stack, template } = kiln();
  const byRole = new Map(
    [...stack.functions.byName].map(([name, fn]) => [logicalIdOf(stack, fn.role ?? fn), name] as const),
  );
  const policy = resourcesOf(template, 'AWS::IAM::Policy')[policyId];
  const roles = (policy.Properties.Roles ?? []) as Array<{ Ref: string }>;
  return roles.map((role) => byRole.get(role.Ref) ?? role.Ref).sort();
}

describe('EC2 and ELB rights', () => {
  it('only ProvisionStack may launch instances and only DecommissionStack and the reaper may terminate them', () => {
    const { stack } = kiln();
    assert.deepEqual(attachedHandlers(logicalIdOf(stack, stack.permissions.ec2Launch)), ['ProvisionStack']);
    assert.deepEqual(attachedHandlers(logicalIdOf(stack, stack.permissions.ec2Terminate)), [
      'DecommissionStack',
      'reapOrphans',
    ]);
  });

  it('only the tasks that move traffic may change the ALB, the reaper only remove from it; CheckHealth, the idle sweep, the canary judgement and the drift check may only read it', () => {
    const { stack } = kiln();
    const managers = ENTRY_POINTS.filter(({ access }) => access.traffic === 'manage')
      .map(({ name }) => name)
      .sort();
    assert.deepEqual(managers, [
      'CutOver',
      'DecommissionStack',
      'DrainStack',
      'ParkEndpoint',
      'ProvisionStack',
      'RemoveEndpoint',
      'RestoreTraffic',
      'RevertCutover',
      'ShiftCanary',
      'VerifyStack',
    ]);
    assert.deepEqual(attachedHandlers(logicalIdOf(stack, stack.permissions.elbManage)), managers);
    assert.deepEqual(attachedHandlers(logicalIdOf(stack, stack.permissions.elbRemove)), ['reapOrphans']);
    assert.deepEqual(
      attachedHandlers(logicalIdOf(stack, stack.permissions.elbRead)),
      // The idle sweep and a canary's judgement read target groups for their metrics; the reaper and the drift check, registrations and health.
      [...managers, 'CheckHealth', 'JudgeCanary', 'reapOrphans', 'repairDrift', 'sweepIdle'].sort(),
    );
  });

  it('lets only ProvisionStack read images (ec2:DescribeImages), on "*" since the action takes no resource', () => {
    const { stack, template } = kiln();
    const json = template.toJSON();
    const readers = [...stack.functions.byName]
      .filter(([, fn]) => actionsOfRole(json, logicalIdOf(stack, fn.role ?? fn)).has('ec2:DescribeImages'))
      .map(([name]) => name);
    assert.deepEqual(readers, ['ProvisionStack']);
    const statements = Object.entries(json.Resources as Resources)
      .filter(([, resource]) => resource.Type === 'AWS::IAM::Policy')
      .flatMap(([id]) => policyStatements(json, id))
      .filter((statement) => [statement.Action].flat().includes('ec2:DescribeImages'));
    assert.equal(statements.length, 1);
    assert.deepEqual(statements[0], {
      Sid: 'DescribeImagesToChooseWhatToLaunch',
      Effect: 'Allow',
      Action: 'ec2:DescribeImages',
      Resource: '*',
    });
    const launch = policyStatements(json, logicalIdOf(stack, stack.permissions.ec2Launch));
    assert.ok(launch.includes(statements[0] as JsonStatement), 'granted with the launch, not with the reads');
  });

  it('lets the launch role pass only the instance role, and only to EC2', () => {
    const { stack, template } = kiln();
    const statements = policyStatements(template.toJSON(), logicalIdOf(stack, stack.permissions.ec2Launch));
    const passRole = statements.filter((statement) => statement.Action === 'iam:PassRole');
    assert.equal(passRole.length, 1);
    assert.deepEqual(passRole[0].Resource, {
      'Fn::GetAtt': [logicalIdOf(stack, stack.network.instanceRole), 'Arn'],
    });
    assert.deepEqual(passRole[0].Condition, { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } });
  });

  it('scopes target groups to the names the traffic adapter gives them', () => {
    assert.ok(targetGroupName('checkout-staging-v0007').startsWith(TARGET_GROUP_NAME_PREFIX));
  });

  it('grants every EC2, ELB, CloudWatch and Step Functions call the AWS adapters make', () => {
    const adapters: Array<[string, string]> = [
      ['ec2-compute.ts', 'ec2'],
      ['ec2-images.ts', 'ec2'],
      ['elb-traffic.ts', 'elasticloadbalancing'],
      ['alb-request-counts.ts', 'cloudwatch'],
      ['sfn-workflows.ts', 'states'],
    ];
    const granted = allowedActions(kiln().template.toJSON());
    for (const [file, service] of adapters) {
      const source = readFileSync(join(ROOT, 'functions/adapters/aws', file), 'utf8');
      const calls = new Set(
        [...source.matchAll(/\b(?:new\s+([A-Z]\w+)Command|paginate([A-Z]\w+))\b/g)].map(
          (match) => `${service}:${match[1] ?? match[2]}`,
        ),
      );
      assert.ok(calls.size > 0, `found no SDK calls in ${file}`);
      for (const action of calls)
        assert.ok(granted.has(action), `${action} (${file}) is granted to no function`);
    }
  });

  it('lets the reaper terminate, drain and delete only what carries kiln:managed, and create or launch nothing', () => {
    const { stack, template } = kiln();
    const json = template.toJSON();
    const role = logicalIdOf(stack, stack.functions.byName.get('reapOrphans')?.role ?? stack);
    const statements = Object.entries(json.Resources as Resources)
      .filter(
        ([, resource]) =>
          resource.Type === 'AWS::IAM::Policy' &&
          ((resource.Properties.Roles ?? []) as Array<{ Ref: string }>).some((r) => r.Ref === role),
      )
      .flatMap(([id]) => policyStatements(json, id));
    const mutations = statements.filter((statement) =>
      [statement.Action].flat().some((action) => /^(ec2|elasticloadbalancing):(?!Describe)/.test(action)),
    );
    assert.deepEqual(mutations.flatMap((statement) => [statement.Action].flat()).sort(), [
      'ec2:TerminateInstances',
      'elasticloadbalancing:DeleteRule',
      'elasticloadbalancing:DeleteTargetGroup',
      'elasticloadbalancing:DeregisterTargets',
      'elasticloadbalancing:ModifyRule',
      'elasticloadbalancing:ModifyTargetGroupAttributes',
    ]);
    for (const statement of mutations) {
      assert.deepEqual(
        statement.Condition,
        managed('Resource'),
        `${[statement.Action].flat().join(', ')} is bound to Kiln's tag`,
      );
    }
    assert.deepEqual(checkTagConditions(json), []);
  });

  it('grants each handler only what the manifest says about workflows and events', () => {
    const { stack, template } = kiln();
    const json = template.toJSON();
    for (const [name, fn] of stack.functions.byName) {
      const { access } = entryPoint(name);
      const actions = actionsOfRole(json, logicalIdOf(stack, fn.role ?? fn));
      assert.equal(actions.has('states:StartExecution'), access.workflows === 'start', name);
      assert.equal(actions.has('states:DescribeExecution'), access.workflows === 'observe', name);
      assert.equal(actions.has('events:PutEvents'), access.events === 'publish', name);
    }
  });
});

interface JsonStatement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

type TemplateJson = ReturnType<Template['toJSON']>;
type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;

function policyStatements(template: TemplateJson, id: string): JsonStatement[] {
  const document = (template.Resources as Resources)[id].Properties.PolicyDocument as {
    Statement: JsonStatement[];
  };
  return document.Statement;
}

function allowedActions(template: TemplateJson): Set<string> {
  const actions = new Set<string>();
  for (const resource of Object.values(template.Resources as Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    for (const statement of (resource.Properties.PolicyDocument as { Statement: JsonStatement[] })
      .Statement) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of [statement.Action].flat()) actions.add(action);
    }
  }
  return actions;
}

function actionsOfRole(template: TemplateJson, roleId: string): Set<string> {
  const actions = new Set<string>();
  for (const resource of Object.values(template.Resources as Resources)) {
    if (resource.Type !== 'AWS::IAM::Policy') continue;
    const roles = (resource.Properties.Roles ?? []) as Array<{ Ref: string }>;
    if (!roles.some((role) => role.Ref === roleId)) continue;
    for (const statement of (resource.Properties.PolicyDocument as { Statement: JsonStatement[] })
      .Statement) {
      for (const action of [statement.Action].flat()) actions.add(action);
    }
  }
  return actions;
}
