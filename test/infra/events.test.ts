import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EVENT_SOURCE } from '../../functions/core/lifecycle-events.ts';
import { ENTRY_POINTS, type EntryPoint, type QueueDefinition } from '../../functions/manifest.ts';
import { ARCHIVE_RETENTION, cdkEventPattern } from '../../infra/constructs/events.ts';
import { functionIds, kiln, kilnStack, logicalIdOf, resourcesOf, testApp } from './kiln-template.ts';

/**
 * Entry points of every trigger kind, on modules that exist (bundling is skipped): what the constructs
 * build for a queue consumer, a rule target and a schedule, before the manifest has such entry points.
 */
const QUEUE: QueueDefinition = {
  name: 'kiln-test-pushes',
  fifo: true,
  visibilityTimeoutSeconds: 360,
  maxReceiveCount: 5,
};
const TEST_ENTRIES: EntryPoint[] = [
  ...ENTRY_POINTS,
  {
    name: 'consumePushes',
    module: 'tasks/PlanTeardown',
    trigger: { type: 'queue', queue: QUEUE.name, batchSize: 10 },
    root: 'store',
    access: { table: 'read' },
  },
  {
    name: 'onCodeCommit',
    module: 'tasks/PlanTeardown',
    trigger: {
      type: 'rule',
      rule: 'codecommit-pushes',
      bus: 'default',
      pattern: {
        source: ['aws.codecommit'],
        'detail-type': ['CodeCommit Repository State Change'],
        detail: { event: ['referenceCreated', 'referenceUpdated'], referenceType: ['branch'] },
      },
    },
    root: 'store',
    access: { table: 'read' },
  },
  {
    name: 'sweepIdle',
    module: 'tasks/PlanTeardown',
    trigger: {
      type: 'schedule',
      schedule: 'idle-sweep',
      expression: 'cron(0/5 * * * ? *)',
      timezone: 'Europe/Berlin',
    },
    root: 'store',
    access: { table: 'read' },
  },
];

function withEveryTrigger() {
  const app = testApp();
  const stack = kilnStack(app, { entries: TEST_ENTRIES, queues: [QUEUE] });
  return { app, stack, template: Template.fromStack(stack) };
}

describe("Kiln's event bus", () => {
  it('is its own custom bus, with an archive of its lifecycle events for replay', () => {
    const { stack, template } = kiln();
    template.resourceCountIs('AWS::Events::EventBus', 1);
    template.hasResourceProperties('AWS::Events::EventBus', { Name: 'Kiln-events' });
    template.hasResourceProperties('AWS::Events::Archive', {
      SourceArn: { 'Fn::GetAtt': [logicalIdOf(stack, stack.events.bus), 'Arn'] },
      EventPattern: { source: [EVENT_SOURCE] },
      RetentionDays: ARCHIVE_RETENTION.toDays(),
    });
  });

  it('only the functions that announce changes may put events, and only on that bus', () => {
    const { stack, template } = kiln();
    const busArn = { 'Fn::GetAtt': [logicalIdOf(stack, stack.events.bus), 'Arn'] };
    const policies = resourcesOf(template, 'AWS::IAM::Policy');
    const publishers = new Set<string>();
    for (const policy of Object.values(policies)) {
      const document = policy.Properties.PolicyDocument as {
        Statement: { Action: string | string[]; Resource: unknown }[];
      };
      for (const statement of document.Statement) {
        if (![statement.Action].flat().some((action) => action.startsWith('events:'))) continue;
        assert.deepEqual([statement.Action].flat(), ['events:PutEvents']);
        assert.deepEqual(statement.Resource, busArn, 'PutEvents on Kiln’s bus only');
        for (const role of policy.Properties.Roles as { Ref: string }[]) publishers.add(role.Ref);
      }
    }
    const expected = ENTRY_POINTS.filter((entry) => entry.access.events === 'publish').map((entry) =>
      logicalIdOf(stack, stack.functions.byName.get(entry.name)?.role ?? stack),
    );
    assert.deepEqual([...publishers].sort(), expected.sort());
    assert.ok(expected.length >= 4, 'the API writes, AcquireLease and FinishDeployment publish');
  });
});

describe('queues, rules and schedules from the manifest', () => {
  it('every queue has its dead-letter queue, an alarm on its depth and an event source mapping reporting partial failures', () => {
    const { stack, template } = withEveryTrigger();
    const queues = resourcesOf(template, 'AWS::SQS::Queue');
    const source = Object.values(queues).find((q) => q.Properties.QueueName === 'kiln-test-pushes.fifo');
    const dlq = Object.entries(queues).find(
      ([, q]) => q.Properties.QueueName === 'kiln-test-pushes-dlq.fifo',
    );
    assert.ok(source && dlq, 'the queue and its dead-letter queue');
    assert.deepEqual(source.Properties.RedrivePolicy, {
      deadLetterTargetArn: { 'Fn::GetAtt': [dlq[0], 'Arn'] },
      maxReceiveCount: 5,
    });
    assert.equal(source.Properties.VisibilityTimeout, 360);
    for (const queue of [source, dlq[1]]) {
      assert.equal(queue.Properties.FifoQueue, true);
      assert.equal(queue.Properties.SqsManagedSseEnabled, true);
    }
    const alarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.MetricName === 'ApproximateNumberOfMessagesVisible',
    );
    assert.equal(alarms.length, 1);
    assert.deepEqual(alarms[0]?.Properties.Dimensions, [
      { Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq[0], 'QueueName'] } },
    ]);
    assert.equal(alarms[0]?.Properties.Threshold, 1);
    assert.deepEqual(alarms[0]?.Properties.AlarmActions, [{ Ref: logicalIdOf(stack, stack.alarms.topic) }]);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionIds(stack).get('consumePushes') },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // Every queue of the template is one of these: no queue without its dead-letter queue and alarm.
    assert.equal(Object.keys(queues).length, 2 * stack.queues.size);
  });

  it('a rule matches the manifest’s very pattern and targets its function; a schedule runs its expression in its time zone', () => {
    const { stack, template } = withEveryTrigger();
    const rules = resourcesOf(template, 'AWS::Events::Rule');
    const rule = Object.values(rules).find((r) => r.Properties.Description === 'Kiln: onCodeCommit');
    assert.ok(rule);
    const entry = TEST_ENTRIES.find((e) => e.name === 'onCodeCommit');
    assert.ok(entry?.trigger.type === 'rule');
    assert.deepEqual(rule.Properties.EventPattern, entry.trigger.pattern);
    assert.equal(rule.Properties.EventBusName, undefined, 'on the default bus');
    assert.deepEqual((rule.Properties.Targets as { Arn: unknown }[])[0]?.Arn, {
      'Fn::GetAtt': [functionIds(stack).get('onCodeCommit'), 'Arn'],
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'cron(0/5 * * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
    });
    const schedule = Object.values(resourcesOf(template, 'AWS::Scheduler::Schedule'))[0];
    const input = JSON.parse(String((schedule?.Properties.Target as { Input: string }).Input));
    assert.deepEqual(input, {
      schedule: 'idle-sweep',
      scheduledTime: '<aws.scheduler.scheduled-time>',
      executionId: '<aws.scheduler.execution-id>',
    });
  });

  it('refuses at synth a pattern the embedded bus would read otherwise than EventBridge', () => {
    assert.throws(
      () => cdkEventPattern({ detail: { status: [{ 'no-such-operator': 1 }] } }),
      /invalid event pattern/,
    );
    assert.throws(() => cdkEventPattern({ 'detail.status': ['x'] }), /not one a rule can match/);
  });

  it('passes cdk-nag with a queue, a rule and a schedule in the stack', () => {
    const { app } = withEveryTrigger();
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    const assembly = app.synth({ force: true });
    const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8')) as {
      pluginReports: Array<{ conclusion: string; violations: unknown[] }>;
    };
    for (const plugin of report.pluginReports) {
      assert.equal(plugin.conclusion, 'success', JSON.stringify(plugin.violations, null, 2));
    }
  });
});
