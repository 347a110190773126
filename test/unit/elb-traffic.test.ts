import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
} from '@aws-sdk/client-cloudwatch';
import {
  type Action,
  CreateRuleCommand,
  CreateTargetGroupCommand,
  DeleteRuleCommand,
  DeleteTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeRulesCommand,
  DescribeTagsCommand,
  type DescribeTagsCommandInput,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ModifyRuleCommand,
  ModifyTargetGroupAttributesCommand,
  PriorityInUseException,
  RegisterTargetsCommand,
  type Rule,
  SetRulePrioritiesCommand,
  TargetGroupNotFoundException,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';
import { albHealthCheck, ElbTraffic, targetGroupName } from '../../functions/adapters/aws/elb-traffic.ts';
import { sampleSpec } from '../support/specs.ts';

const elb = mockClient(ElasticLoadBalancingV2Client);
const cloudWatch = mockClient(CloudWatchClient);
const ARN = 'arn:aws:elasticloadbalancing:eu-west-1:123456789012';
/** The waker's Lambda target group, made by the CDK app: no Kiln name, no environment. */
const WAKER = `${ARN}:targetgroup/KilnWaker/0f1e2d3c4b5a6978`;
const NOW = new Date('2026-12-02T10:43:25.000Z');
const LISTENER = `${ARN}:listener/app/kiln/50dc6c495c0c9188/f2f7dc8efc522ab2`;
const ENV = 'checkout-dev';
const BLUE = 'checkout-dev-v0001';
const GREEN = 'checkout-dev-v0002';
const ENV_RULE = `${ARN}:listener-rule/app/kiln/50dc6c495c0c9188/f2f7dc8efc522ab2/env`;
const NO_STACK: Action = {
  Type: 'fixed-response',
  FixedResponseConfig: {
    StatusCode: '503',
    ContentType: 'text/plain',
    MessageBody: 'No stack of this environment is receiving traffic',
  },
};
let sleeps: number[];
/** Tags by resource ARN, as DescribeTags answers them. */
let tagsByArn: Record<string, Record<string, string>>;

function newTraffic(): ElbTraffic {
  return new ElbTraffic({
    client: new ElasticLoadBalancingV2Client({ region: 'eu-west-1' }),
    cloudWatch: new CloudWatchClient({ region: 'eu-west-1' }),
    listenerArn: LISTENER,
    vpcId: 'vpc-kiln',
    endpointDomain: 'apps.example.com',
    instancePort: 8080,
    wakerTargetGroupArn: WAKER,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    clock: { now: () => NOW },
  });
}

function groupArn(stackId: string): string {
  return `${ARN}:targetgroup/${targetGroupName(stackId)}/73e2d6bc24d8a067`;
}

function kilnTags(environment: string, stackId?: string): Record<string, string> {
  return {
    'kiln:managed': 'true',
    'kiln:environment': environment,
    ...(stackId ? { 'kiln:stack-id': stackId } : {}),
  };
}

function forward(weights: Record<string, number>): Action {
  return {
    Type: 'forward',
    ForwardConfig: {
      TargetGroups: Object.entries(weights).map(([stackId, weight]) => ({
        TargetGroupArn: groupArn(stackId),
        Weight: weight,
      })),
    },
  };
}

/** The listener's rules: its default, one of another environment, and (with an action) this environment's. */
function listenerRules(envAction?: Action): Rule[] {
  const other = `${ARN}:listener-rule/app/kiln/50dc6c495c0c9188/f2f7dc8efc522ab2/other`;
  tagsByArn[other] = kilnTags('payments-dev');
  const rules: Rule[] = [
    { RuleArn: `${LISTENER}/default`, Priority: 'default', IsDefault: true, Actions: [NO_STACK] },
    { RuleArn: other, Priority: '1', Actions: [NO_STACK] },
  ];
  if (envAction) {
    tagsByArn[ENV_RULE] = kilnTags(ENV);
    rules.push({ RuleArn: ENV_RULE, Priority: '2', Actions: [envAction] });
  }
  return rules;
}

function registerStackGroups(...stackIds: string[]): void {
  for (const stackId of stackIds) tagsByArn[groupArn(stackId)] = kilnTags(ENV, stackId);
}

function commandNames(): string[] {
  return elb.calls().map((call) => call.args[0].constructor.name.replace(/Command$/, ''));
}

function inputsOf<I extends object>(command: new (input: I) => { input: I }): I[] {
  return elb.commandCalls(command as never).map((call) => (call.args[0] as { input: I }).input);
}

function health(id: string, state: string, reason?: string, description?: string) {
  return {
    Target: { Id: id, Port: 8080 },
    TargetHealth: {
      State: state as 'healthy',
      ...(reason ? { Reason: reason as 'Target.Timeout' } : {}),
      ...(description ? { Description: description } : {}),
    },
  };
}

/** DescribeTags answers from `tagsByArn`. */
function answerTags(): void {
  elb.on(DescribeTagsCommand).callsFake((input: DescribeTagsCommandInput) => ({
    TagDescriptions: (input.ResourceArns ?? []).map((arn) => ({
      ResourceArn: arn,
      Tags: Object.entries(tagsByArn[arn] ?? {}).map(([Key, Value]) => ({ Key, Value })),
    })),
  }));
}

beforeEach(() => {
  elb.reset();
  cloudWatch.reset();
  sleeps = [];
  tagsByArn = {};
  answerTags();
});

describe('ElbTraffic.ensureEndpoint', () => {
  it('creates a host-header rule answering 503, tagged for the environment, at the smallest free priority', async () => {
    const rules = listenerRules();
    rules.push({ RuleArn: `${LISTENER}/r3`, Priority: '3', Actions: [NO_STACK] });
    elb.on(DescribeRulesCommand).resolves({ Rules: rules });
    elb
      .on(CreateRuleCommand)
      .resolves({ Rules: [{ RuleArn: ENV_RULE, Priority: '2', Actions: [NO_STACK] }] });

    const url = await newTraffic().ensureEndpoint(ENV);

    assert.equal(url, 'http://checkout-dev.apps.example.com');
    assert.deepEqual(inputsOf(CreateRuleCommand), [
      {
        ListenerArn: LISTENER,
        Priority: 2,
        Conditions: [
          { Field: 'host-header', HostHeaderConfig: { Values: ['checkout-dev.apps.example.com'] } },
        ],
        Actions: [NO_STACK],
        Tags: [
          { Key: 'kiln:managed', Value: 'true' },
          { Key: 'kiln:environment', Value: ENV },
        ],
      },
    ]);
  });

  it('finds the environment rule by its tags instead of creating a second one', async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(NO_STACK) });

    assert.equal(await newTraffic().ensureEndpoint(ENV), 'http://checkout-dev.apps.example.com');
    assert.equal(elb.commandCalls(CreateRuleCommand).length, 0);
    assert.deepEqual(inputsOf(DescribeTagsCommand), [
      { ResourceArns: [listenerRules()[1]?.RuleArn, ENV_RULE] },
    ]);
  });

  it('reads the rules again and takes the next free priority when another rule took it first', async () => {
    const taken = { RuleArn: `${LISTENER}/r2`, Priority: '2', Actions: [NO_STACK] };
    elb
      .on(DescribeRulesCommand)
      .resolvesOnce({ Rules: listenerRules() })
      .resolves({ Rules: [...listenerRules(), taken] });
    elb
      .on(CreateRuleCommand)
      .rejectsOnce(new PriorityInUseException({ $metadata: {}, message: 'Priority 2 is currently in use' }))
      .resolves({ Rules: [{ RuleArn: ENV_RULE, Priority: '3' }] });

    await newTraffic().ensureEndpoint(ENV);

    assert.deepEqual(
      inputsOf(CreateRuleCommand).map((input) => input.Priority),
      [2, 3],
    );
    assert.equal(sleeps.length, 1);
  });
});

describe('ElbTraffic.registerStack', () => {
  it('creates the stack target group, registers its instances and adds it to the rule at weight 0', async () => {
    registerStackGroups(BLUE);
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100 })) });
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(GREEN) }] });
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });
    const check = { ...sampleSpec().healthCheck, path: '/ready', intervalSeconds: 10, timeoutSeconds: 4 };

    await newTraffic().registerStack(
      ENV,
      GREEN,
      [
        { id: 'i-1', address: 'http://10.0.0.1:8080', state: 'running' },
        { id: 'i-2', address: 'http://10.0.0.2:8080', state: 'running' },
        { id: 'i-gone', address: '', state: 'terminated' },
      ],
      check,
    );

    assert.deepEqual(inputsOf(CreateTargetGroupCommand), [
      {
        Name: targetGroupName(GREEN),
        Protocol: 'HTTP',
        Port: 8080,
        VpcId: 'vpc-kiln',
        TargetType: 'instance',
        HealthCheckProtocol: 'HTTP',
        HealthCheckPath: '/ready',
        HealthCheckIntervalSeconds: 10,
        HealthCheckTimeoutSeconds: 4,
        HealthyThresholdCount: 2,
        Matcher: { HttpCode: '200-399' },
        Tags: [
          { Key: 'kiln:managed', Value: 'true' },
          { Key: 'kiln:environment', Value: ENV },
          { Key: 'kiln:stack-id', Value: GREEN },
        ],
      },
    ]);
    assert.deepEqual(inputsOf(RegisterTargetsCommand), [
      { TargetGroupArn: groupArn(GREEN), Targets: [{ Id: 'i-1' }, { Id: 'i-2' }] },
    ]);
    assert.deepEqual(inputsOf(ModifyRuleCommand), [
      { RuleArn: ENV_RULE, Actions: [forward({ [BLUE]: 100, [GREEN]: 0 })] },
    ]);
  });

  it('creates the rule when the environment has none yet', async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules() });
    elb
      .on(CreateRuleCommand)
      .resolves({ Rules: [{ RuleArn: ENV_RULE, Priority: '2', Actions: [NO_STACK] }] });
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(BLUE) }] });
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });

    await newTraffic().registerStack(
      ENV,
      BLUE,
      [{ id: 'i-1', address: 'http://10.0.0.1:8080', state: 'running' }],
      sampleSpec().healthCheck,
    );

    assert.equal(elb.commandCalls(CreateRuleCommand).length, 1);
    assert.deepEqual(inputsOf(ModifyRuleCommand), [{ RuleArn: ENV_RULE, Actions: [forward({ [BLUE]: 0 })] }]);
  });

  it('changes nothing on the rule when registered again, and deregisters replaced instances', async () => {
    registerStackGroups(BLUE);
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100 })) });
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(BLUE) }] });
    elb.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        health('i-1', 'healthy'),
        health('i-old', 'unhealthy'),
        health('i-older', 'draining'),
      ],
    });

    await newTraffic().registerStack(
      ENV,
      BLUE,
      [{ id: 'i-1', address: 'http://10.0.0.1:8080', state: 'running' }],
      sampleSpec().healthCheck,
    );

    assert.equal(elb.commandCalls(ModifyRuleCommand).length, 0);
    assert.deepEqual(inputsOf(DeregisterTargetsCommand), [
      { TargetGroupArn: groupArn(BLUE), Targets: [{ Id: 'i-old' }] },
    ]);
  });
});

describe('target group settings', () => {
  it('names target groups deterministically within 32 characters', () => {
    const name = targetGroupName('a-very-long-environment-name-abcdefgh-v0123');
    assert.ok(name.length <= 32, name);
    assert.match(name, /^kiln-[0-9a-f]{16}$/);
    assert.equal(targetGroupName(BLUE), targetGroupName(BLUE));
    assert.notEqual(targetGroupName(BLUE), targetGroupName(GREEN));
  });

  it('keeps health-check settings within what an ALB accepts', () => {
    const check = sampleSpec().healthCheck;
    assert.deepEqual(
      albHealthCheck({ ...check, intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 1 }),
      {
        HealthCheckIntervalSeconds: 5,
        HealthCheckTimeoutSeconds: 2,
        HealthyThresholdCount: 2,
      },
    );
    assert.deepEqual(
      albHealthCheck({ ...check, intervalSeconds: 30, timeoutSeconds: 5, healthyThreshold: 3 }),
      {
        HealthCheckIntervalSeconds: 30,
        HealthCheckTimeoutSeconds: 5,
        HealthyThresholdCount: 3,
      },
    );
    assert.equal(
      albHealthCheck({ ...check, intervalSeconds: 5, timeoutSeconds: 5 }).HealthCheckTimeoutSeconds,
      4,
      'the timeout stays below the interval',
    );
  });
});

describe('ElbTraffic weights', () => {
  it("sets the named stacks' weights in the rule's forward action and keeps the others", async () => {
    const third = 'checkout-dev-v0003';
    registerStackGroups(BLUE, GREEN, third);
    elb
      .on(DescribeRulesCommand)
      .resolves({ Rules: listenerRules(forward({ [BLUE]: 50, [GREEN]: 0, [third]: 50 })) });

    await newTraffic().setWeights(ENV, { [GREEN]: 50, [BLUE]: 0 });

    assert.deepEqual(inputsOf(ModifyRuleCommand), [
      { RuleArn: ENV_RULE, Actions: [forward({ [BLUE]: 0, [GREEN]: 50, [third]: 50 })] },
    ]);
  });

  it('refuses weights of stacks not on the rule and changes nothing', async () => {
    registerStackGroups(BLUE);
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100 })) });

    await assert.rejects(
      newTraffic().setWeights(ENV, { [BLUE]: 0, [GREEN]: 100 }),
      /stack\(s\) not registered: checkout-dev-v0002/,
    );
    await assert.rejects(newTraffic().setWeights(ENV, { [BLUE]: 150 }), /weights must be 0–100/);
    assert.equal(elb.commandCalls(ModifyRuleCommand).length, 0);
  });

  it('reads the weights from the rule, naming stacks by their target group tags', async () => {
    registerStackGroups(BLUE, GREEN);
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100, [GREEN]: 0 })) });

    assert.deepEqual(await newTraffic().getWeights(ENV), { [BLUE]: 100, [GREEN]: 0 });
  });

  it('has no weights while the environment has no rule or answers 503', async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules() });
    assert.deepEqual(await newTraffic().getWeights(ENV), {});
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(NO_STACK) });
    assert.deepEqual(await newTraffic().getWeights(ENV), {});
  });
});

describe('ElbTraffic.probeHealth', () => {
  it('reports the ALB target health: healthy only when healthy, with the reason otherwise', async () => {
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(GREEN) }] });
    elb.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        health('i-1', 'healthy'),
        health(
          'i-2',
          'unhealthy',
          'Target.ResponseCodeMismatch',
          'Health checks failed with these codes: [503]',
        ),
        health('i-3', 'initial', 'Elb.RegistrationInProgress'),
        health('i-4', 'draining', 'Target.DeregistrationInProgress'),
      ],
    });

    const round = await newTraffic().probeHealth(ENV, GREEN);

    assert.deepEqual(inputsOf(DescribeTargetGroupsCommand), [{ Names: [targetGroupName(GREEN)] }]);
    assert.deepEqual(inputsOf(DescribeTargetHealthCommand), [{ TargetGroupArn: groupArn(GREEN) }]);
    assert.deepEqual(round, [
      { instanceId: 'i-1', healthy: true },
      {
        instanceId: 'i-2',
        healthy: false,
        reason: 'unhealthy: Target.ResponseCodeMismatch: Health checks failed with these codes: [503]',
      },
      { instanceId: 'i-3', healthy: false, reason: 'initial: Elb.RegistrationInProgress' },
    ]);
  });

  it('finds no targets for a stack without a target group', async () => {
    elb
      .on(DescribeTargetGroupsCommand)
      .rejects(new TargetGroupNotFoundException({ $metadata: {}, message: 'nope' }));

    assert.deepEqual(await newTraffic().probeHealth(ENV, GREEN), []);
  });
});

describe('ElbTraffic.startDrain and finishDrain', () => {
  it('startDrain sets the delay, weighs the stack 0 and deregisters its targets, waiting for nothing', async () => {
    registerStackGroups(BLUE, GREEN);
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(BLUE) }] });
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 20, [GREEN]: 80 })) });
    elb
      .on(DescribeTargetHealthCommand)
      .resolves({ TargetHealthDescriptions: [health('i-1', 'healthy'), health('i-2', 'healthy')] });

    await newTraffic().startDrain(ENV, BLUE, 30);

    assert.deepEqual(commandNames(), [
      'DescribeTargetGroups',
      'ModifyTargetGroupAttributes',
      'DescribeRules',
      'DescribeTags',
      'ModifyRule',
      'DescribeTargetHealth',
      'DeregisterTargets',
    ]);
    assert.deepEqual(inputsOf(ModifyTargetGroupAttributesCommand), [
      {
        TargetGroupArn: groupArn(BLUE),
        Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }],
      },
    ]);
    assert.deepEqual(inputsOf(ModifyRuleCommand), [
      { RuleArn: ENV_RULE, Actions: [forward({ [BLUE]: 0, [GREEN]: 80 })] },
    ]);
    assert.deepEqual(inputsOf(DeregisterTargetsCommand), [
      { TargetGroupArn: groupArn(BLUE), Targets: [{ Id: 'i-1' }, { Id: 'i-2' }] },
    ]);
    assert.deepEqual(sleeps, []);
  });

  it('finishDrain answers false while targets still drain, and changes nothing', async () => {
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(BLUE) }] });
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [health('i-1', 'draining')] });

    assert.equal(await newTraffic().finishDrain(ENV, BLUE), false);

    assert.deepEqual(commandNames(), ['DescribeTargetGroups', 'DescribeTargetHealth']);
  });

  it('finishDrain, once nothing drains, takes the stack out of the rule and deletes its group', async () => {
    registerStackGroups(BLUE, GREEN);
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(BLUE) }] });
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 0, [GREEN]: 80 })) });
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });

    assert.equal(await newTraffic().finishDrain(ENV, BLUE), true);

    assert.deepEqual(commandNames(), [
      'DescribeTargetGroups',
      'DescribeTargetHealth',
      'DescribeRules',
      'DescribeTags',
      'ModifyRule',
      'DeleteTargetGroup',
    ]);
    assert.deepEqual(inputsOf(ModifyRuleCommand), [
      { RuleArn: ENV_RULE, Actions: [forward({ [GREEN]: 80 })] },
    ]);
    assert.deepEqual(inputsOf(DeleteTargetGroupCommand), [{ TargetGroupArn: groupArn(BLUE) }]);
  });

  it('finishDrain with cutOff removes the stack while its targets still drain (the drain deadline passed)', async () => {
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(BLUE) }] });
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 0 })) });
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [health('i-1', 'draining')] });

    assert.equal(await newTraffic().finishDrain(ENV, BLUE, { cutOff: true }), true);

    assert.equal(elb.commandCalls(DescribeTargetHealthCommand).length, 0);
    assert.deepEqual(inputsOf(DeleteTargetGroupCommand), [{ TargetGroupArn: groupArn(BLUE) }]);
  });

  it('answers 503 again once the last stack has left the rule', async () => {
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(BLUE) }] });
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 0 })) });
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });

    assert.equal(await newTraffic().finishDrain(ENV, BLUE), true);

    assert.deepEqual(inputsOf(ModifyRuleCommand), [{ RuleArn: ENV_RULE, Actions: [NO_STACK] }]);
    assert.equal(elb.commandCalls(DeregisterTargetsCommand).length, 0);
  });

  it('succeeds at once for a stack whose target group is already gone', async () => {
    elb
      .on(DescribeTargetGroupsCommand)
      .rejects(new TargetGroupNotFoundException({ $metadata: {}, message: 'nope' }));

    await newTraffic().startDrain(ENV, BLUE, 30);
    assert.equal(await newTraffic().finishDrain(ENV, BLUE), true);

    assert.deepEqual(commandNames(), ['DescribeTargetGroups', 'DescribeTargetGroups']);
  });
});

const TEST_RULE = `${ARN}:listener-rule/app/kiln/50dc6c495c0c9188/f2f7dc8efc522ab2/test`;

/** GREEN's test route as CreateRule answers it, or as the listener lists it, at `priority`. */
function testRule(priority: string): Rule {
  tagsByArn[TEST_RULE] = kilnTags(ENV, GREEN);
  return { RuleArn: TEST_RULE, Priority: priority, Actions: [forward({ [GREEN]: 1 })] };
}

describe('ElbTraffic.testEndpoint (a route to one stack, for its hooks)', () => {
  beforeEach(() => {
    registerStackGroups(BLUE, GREEN);
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(GREEN) }] });
  });

  it("adds a rule on the environment's host matching the test header, forwarding to the stack alone, before the environment's rule", async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100, [GREEN]: 0 })) });
    elb.on(CreateRuleCommand).resolves({ Rules: [testRule('3')] });

    const url = await newTraffic().testEndpoint(ENV, GREEN);

    assert.equal(url, 'http://checkout-dev.apps.example.com');
    assert.deepEqual(inputsOf(CreateRuleCommand), [
      {
        ListenerArn: LISTENER,
        Priority: 3,
        Conditions: [
          { Field: 'host-header', HostHeaderConfig: { Values: ['checkout-dev.apps.example.com'] } },
          {
            Field: 'http-header',
            HttpHeaderConfig: { HttpHeaderName: 'x-kiln-test-stack', Values: [GREEN] },
          },
        ],
        Actions: [forward({ [GREEN]: 1 })],
        Tags: [
          { Key: 'kiln:managed', Value: 'true' },
          { Key: 'kiln:environment', Value: ENV },
          { Key: 'kiln:stack-id', Value: GREEN },
        ],
      },
    ]);
    // The smallest free priority (3) comes after the environment's rule (2): one call swaps them.
    assert.deepEqual(inputsOf(SetRulePrioritiesCommand), [
      {
        RulePriorities: [
          { RuleArn: TEST_RULE, Priority: 2 },
          { RuleArn: ENV_RULE, Priority: 3 },
        ],
      },
    ]);
    assert.equal(elb.commandCalls(ModifyRuleCommand).length, 0, "the environment's split is untouched");
  });

  it("takes a free priority before the environment's rule without moving it", async () => {
    const rules = listenerRules(forward({ [BLUE]: 100 })).filter((rule) => rule.Priority !== '1');
    elb.on(DescribeRulesCommand).resolves({ Rules: rules });
    elb.on(CreateRuleCommand).resolves({ Rules: [testRule('1')] });

    await newTraffic().testEndpoint(ENV, GREEN);

    assert.deepEqual(
      inputsOf(CreateRuleCommand).map((input) => input.Priority),
      [1],
    );
    assert.equal(elb.commandCalls(SetRulePrioritiesCommand).length, 0);
  });

  it('finds its rule again by its tags: nothing to do, or only the swap a crash interrupted', async () => {
    elb
      .on(DescribeRulesCommand)
      .resolves({ Rules: [...listenerRules(forward({ [BLUE]: 100 })), testRule('3')] });
    await newTraffic().testEndpoint(ENV, GREEN);
    assert.equal(elb.commandCalls(CreateRuleCommand).length, 0);
    assert.equal(elb.commandCalls(SetRulePrioritiesCommand).length, 1);

    elb.reset();
    answerTags();
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(GREEN) }] });
    const swapped = listenerRules(forward({ [BLUE]: 100 })).map((rule) =>
      rule.RuleArn === ENV_RULE ? { ...rule, Priority: '3' } : rule,
    );
    elb.on(DescribeRulesCommand).resolves({ Rules: [...swapped, testRule('2')] });
    assert.equal(await newTraffic().testEndpoint(ENV, GREEN), 'http://checkout-dev.apps.example.com');
    assert.deepEqual(commandNames(), ['DescribeTargetGroups', 'DescribeRules', 'DescribeTags']);
  });

  it('refuses a stack that is not registered, creating nothing', async () => {
    elb
      .on(DescribeTargetGroupsCommand)
      .rejects(new TargetGroupNotFoundException({ $metadata: {}, message: 'nope' }));
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100 })) });

    await assert.rejects(newTraffic().testEndpoint(ENV, GREEN), {
      message: `no test endpoint for ${GREEN}: it is not registered in ${ENV}`,
    });
    assert.equal(elb.commandCalls(CreateRuleCommand).length, 0);
  });

  it("is never taken for the environment's rule: weights are read from the environment's own rule", async () => {
    elb
      .on(DescribeRulesCommand)
      .resolves({ Rules: [testRule('2'), ...listenerRules(forward({ [BLUE]: 100, [GREEN]: 0 }))] });

    assert.deepEqual(await newTraffic().getWeights(ENV), { [BLUE]: 100, [GREEN]: 0 });
  });

  it('goes when the stack starts draining', async () => {
    elb
      .on(DescribeRulesCommand)
      .resolves({ Rules: [testRule('2'), ...listenerRules(forward({ [BLUE]: 100, [GREEN]: 0 }))] });
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });

    await newTraffic().startDrain(ENV, GREEN, 0);

    assert.deepEqual(inputsOf(DeleteRuleCommand), [{ RuleArn: TEST_RULE }]);
  });

  it('goes before its target group is deleted when the stack is removed at once', async () => {
    elb
      .on(DescribeRulesCommand)
      .resolves({ Rules: [testRule('2'), ...listenerRules(forward({ [BLUE]: 100, [GREEN]: 0 }))] });

    await newTraffic().finishDrain(ENV, GREEN, { cutOff: true });

    assert.deepEqual(inputsOf(DeleteRuleCommand), [{ RuleArn: TEST_RULE }]);
    const names = commandNames();
    assert.ok(names.indexOf('DeleteRule') < names.indexOf('DeleteTargetGroup'), names.join(', '));
  });

  it("goes with the environment's endpoint", async () => {
    elb
      .on(DescribeRulesCommand)
      .resolves({ Rules: [testRule('2'), ...listenerRules(forward({ [BLUE]: 100, [GREEN]: 0 }))] });
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [] });

    await newTraffic().removeEndpoint(ENV);

    assert.deepEqual(inputsOf(DeleteRuleCommand), [{ RuleArn: TEST_RULE }, { RuleArn: ENV_RULE }]);
  });
});

describe('ElbTraffic.removeEndpoint', () => {
  it("deletes the environment's rule and its remaining Kiln target groups, and nothing else", async () => {
    registerStackGroups(BLUE);
    const otherEnvironment = `${ARN}:targetgroup/${targetGroupName('payments-dev-v0001')}/1`;
    tagsByArn[otherEnvironment] = kilnTags('payments-dev', 'payments-dev-v0001');
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100 })) });
    elb.on(DescribeTargetGroupsCommand).resolves({
      TargetGroups: [
        { TargetGroupArn: groupArn(BLUE), TargetGroupName: targetGroupName(BLUE), VpcId: 'vpc-kiln' },
        {
          TargetGroupArn: otherEnvironment,
          TargetGroupName: targetGroupName('payments-dev-v0001'),
          VpcId: 'vpc-kiln',
        },
        { TargetGroupArn: `${ARN}:targetgroup/legacy/2`, TargetGroupName: 'legacy', VpcId: 'vpc-kiln' },
      ],
    });

    await newTraffic().removeEndpoint(ENV);

    assert.deepEqual(inputsOf(DeleteRuleCommand), [{ RuleArn: ENV_RULE }]);
    assert.deepEqual(inputsOf(DeleteTargetGroupCommand), [{ TargetGroupArn: groupArn(BLUE) }]);
  });

  it('succeeds when everything is already gone', async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules() });
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [] });

    await newTraffic().removeEndpoint(ENV);

    assert.equal(elb.commandCalls(DeleteRuleCommand).length, 0);
    assert.equal(elb.commandCalls(DeleteTargetGroupCommand).length, 0);
  });
});

/** The waker alone: how a parked rule forwards. */
const PARKED: Action = {
  Type: 'forward',
  ForwardConfig: { TargetGroups: [{ TargetGroupArn: WAKER, Weight: 1 }] },
};

/** The ALB as a rule that keeps the action each ModifyRule gives it, starting from `action`. */
function statefulRule(action: Action): void {
  let current = action;
  elb.on(DescribeRulesCommand).callsFake(() => ({ Rules: listenerRules(current) }));
  elb.on(ModifyRuleCommand).callsFake((input: { Actions: Action[] }) => {
    current = input.Actions[0] as Action;
    return {};
  });
}

describe('ElbTraffic.parkEndpoint', () => {
  it("forwards the environment's rule to the waker target group, once", async () => {
    statefulRule(NO_STACK);

    await newTraffic().parkEndpoint(ENV);
    await newTraffic().parkEndpoint(ENV);

    assert.deepEqual(inputsOf(ModifyRuleCommand), [{ RuleArn: ENV_RULE, Actions: [PARKED] }]);
    assert.equal(elb.commandCalls(CreateRuleCommand).length, 0);
  });

  it('creates the rule of an environment that has none, then parks it', async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules() });
    elb
      .on(CreateRuleCommand)
      .resolves({ Rules: [{ RuleArn: ENV_RULE, Priority: '2', Actions: [NO_STACK] }] });

    await newTraffic().parkEndpoint(ENV);

    assert.equal(elb.commandCalls(CreateRuleCommand).length, 1);
    assert.deepEqual(inputsOf(ModifyRuleCommand), [{ RuleArn: ENV_RULE, Actions: [PARKED] }]);
  });

  it('a wake: the stack joins the parked rule at weight 0, and its weight takes the waker off', async () => {
    statefulRule(NO_STACK);
    registerStackGroups(GREEN);
    elb.on(CreateTargetGroupCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(GREEN) }] });
    elb.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });
    const traffic = newTraffic();

    await traffic.parkEndpoint(ENV);
    await traffic.registerStack(
      ENV,
      GREEN,
      [{ id: 'i-1', address: 'http://10.0.0.1:8080', state: 'running' }],
      sampleSpec().healthCheck,
    );
    assert.deepEqual(await traffic.getWeights(ENV), { [GREEN]: 0 }, 'the waker is no stack');
    await traffic.setWeights(ENV, { [GREEN]: 100 });

    assert.deepEqual(
      inputsOf(ModifyRuleCommand).map((input) => input.Actions),
      [
        [PARKED],
        [
          {
            Type: 'forward',
            ForwardConfig: {
              TargetGroups: [
                { TargetGroupArn: WAKER, Weight: 1 },
                { TargetGroupArn: groupArn(GREEN), Weight: 0 },
              ],
            },
          },
        ],
        [forward({ [GREEN]: 100 })],
      ],
    );
  });

  it('a wake whose stack is drained before it got traffic leaves the environment parked', async () => {
    registerStackGroups(GREEN);
    statefulRule({
      Type: 'forward',
      ForwardConfig: {
        TargetGroups: [
          { TargetGroupArn: WAKER, Weight: 1 },
          { TargetGroupArn: groupArn(GREEN), Weight: 0 },
        ],
      },
    });
    elb.on(DescribeTargetGroupsCommand).resolves({ TargetGroups: [{ TargetGroupArn: groupArn(GREEN) }] });

    await newTraffic().finishDrain(ENV, GREEN, { cutOff: true });

    assert.deepEqual(inputsOf(ModifyRuleCommand), [{ RuleArn: ENV_RULE, Actions: [PARKED] }]);
    assert.deepEqual(inputsOf(DeleteTargetGroupCommand), [{ TargetGroupArn: groupArn(GREEN) }]);
  });

  it("removing a parked environment's endpoint deletes its rule and leaves the shared waker target group", async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(PARKED) });
    // The waker's group is a Lambda target group: no VPC.
    elb.on(DescribeTargetGroupsCommand).resolves({
      TargetGroups: [{ TargetGroupArn: WAKER, TargetGroupName: 'KilnWaker', TargetType: 'lambda' }],
    });

    await newTraffic().removeEndpoint(ENV);

    assert.deepEqual(inputsOf(DeleteRuleCommand), [{ RuleArn: ENV_RULE }]);
    assert.equal(elb.commandCalls(DeleteTargetGroupCommand).length, 0);
  });
});

describe('ElbTraffic.lastRequestAt', () => {
  const minute = (time: string) => new Date(`2026-12-02T${time}:00.000Z`);

  it("asks CloudWatch for the ALB's per-minute request sums of each target group of the rule, since `since`", async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100, [GREEN]: 0 })) });
    cloudWatch.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });

    await newTraffic().lastRequestAt(ENV, '2026-12-02T09:15:42.123Z');

    const inputs = cloudWatch
      .commandCalls(GetMetricDataCommand)
      .map((call) => call.args[0].input as GetMetricDataCommandInput);
    assert.deepEqual(inputs, [
      {
        MetricDataQueries: [BLUE, GREEN].map((stackId, index) => ({
          Id: `requests${index}`,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/ApplicationELB',
              MetricName: 'RequestCount',
              Dimensions: [
                { Name: 'TargetGroup', Value: `targetgroup/${targetGroupName(stackId)}/73e2d6bc24d8a067` },
                { Name: 'LoadBalancer', Value: 'app/kiln/50dc6c495c0c9188' },
              ],
            },
            Period: 60,
            Stat: 'Sum',
          },
          ReturnData: true,
        })),
        // From the minute `since` falls in, to now.
        StartTime: minute('09:15'),
        EndTime: NOW,
        ScanBy: 'TimestampDescending',
        // Set by the paginator.
        NextToken: undefined,
        MaxDatapoints: undefined,
      },
    ]);
  });

  it('answers the end of the latest minute with requests, over every target group and page', async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100, [GREEN]: 0 })) });
    cloudWatch
      .on(GetMetricDataCommand)
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'requests0', Timestamps: [minute('10:20'), minute('10:19')], Values: [0, 7] },
          { Id: 'requests1', Timestamps: [], Values: [] },
        ],
        NextToken: 'more',
      })
      .resolves({
        MetricDataResults: [{ Id: 'requests1', Timestamps: [minute('10:31')], Values: [2] }],
      });

    assert.equal(
      await newTraffic().lastRequestAt(ENV, '2026-12-02T09:00:00.000Z'),
      '2026-12-02T10:32:00.000Z',
    );
    assert.equal(cloudWatch.commandCalls(GetMetricDataCommand)[1]?.args[0].input.NextToken, 'more');
  });

  it('answers undefined when every minute summed 0', async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100 })) });
    cloudWatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'requests0', Timestamps: [minute('10:20'), minute('10:19')], Values: [0, 0] },
      ],
    });

    assert.equal(await newTraffic().lastRequestAt(ENV, '2026-12-02T09:00:00.000Z'), undefined);
  });

  it('answers no later than now for requests in the current minute', async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100 })) });
    cloudWatch.on(GetMetricDataCommand).resolves({
      MetricDataResults: [{ Id: 'requests0', Timestamps: [minute('10:43')], Values: [1] }],
    });

    assert.equal(await newTraffic().lastRequestAt(ENV, '2026-12-02T09:00:00.000Z'), NOW.toISOString());
  });

  it('asks CloudWatch nothing for a parked environment or one without a rule', async () => {
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(PARKED) });
    assert.equal(await newTraffic().lastRequestAt(ENV, '2026-12-02T09:00:00.000Z'), undefined);
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules() });
    assert.equal(await newTraffic().lastRequestAt(ENV, '2026-12-02T09:00:00.000Z'), undefined);
    assert.equal(cloudWatch.commandCalls(GetMetricDataCommand).length, 0);
  });
});

describe('ElbTraffic.listRegistrations', () => {
  it("finds Kiln's rules and stack target groups by their tags, and nothing that is not Kiln's", async () => {
    registerStackGroups(BLUE, GREEN);
    const foreign = `${ARN}:targetgroup/${targetGroupName('someone-v0001')}/3`;
    tagsByArn[foreign] = { 'kiln:environment': 'someone', 'kiln:stack-id': 'someone-v0001' };
    const renamed = `${ARN}:targetgroup/kiln-renamed/4`;
    tagsByArn[renamed] = kilnTags(ENV, 'checkout-dev-v0009');
    const group = (arn: string, name: string, vpc = 'vpc-kiln') => ({
      TargetGroupArn: arn,
      TargetGroupName: name,
      VpcId: vpc,
    });
    elb.on(DescribeRulesCommand).resolves({ Rules: listenerRules(forward({ [BLUE]: 100 })) });
    elb.on(DescribeTargetGroupsCommand).resolves({
      TargetGroups: [
        group(groupArn(BLUE), targetGroupName(BLUE)),
        group(groupArn(GREEN), targetGroupName(GREEN)),
        // Not tagged kiln:managed; named otherwise than after its stack; in another VPC.
        group(foreign, targetGroupName('someone-v0001')),
        group(renamed, 'kiln-renamed'),
        group(`${ARN}:targetgroup/${targetGroupName('elsewhere-v0001')}/5`, 'x', 'vpc-other'),
      ],
    });

    assert.deepEqual(await newTraffic().listRegistrations(), [
      { environment: 'payments-dev', endpoint: true, stackIds: [] },
      { environment: ENV, endpoint: true, stackIds: [BLUE, GREEN] },
    ]);
  });
});
