import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { EVENT_SOURCE } from '../../functions/core/lifecycle-events.ts';
import {
  CODECOMMIT_BRANCH_PUSHES,
  ENTRY_POINTS,
  PUSH_QUEUE,
  QUEUES,
  UPKEEP_SCHEDULE,
} from '../../functions/manifest.ts';
import { ARCHIVE_RETENTION, cdkEventPattern } from '../../infra/constructs/events.ts';
import { functionIds, kiln, kilnStack, logicalIdOf, resourcesOf, testApp } from './kiln-template.ts';

function withEveryTrigger() {
  const app = testApp();
  const stack = kilnStack(app, { entries: ENTRY_POINTS });
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
    const { stack, template } = kiln();
    const queues = resourcesOf(template, 'AWS::SQS::Queue');
    const alarms = Object.values(resourcesOf(template, 'AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.MetricName === 'ApproximateNumberOfMessagesVisible',
    );
    assert.ok(QUEUES.length > 0, 'the push queue at least');
    for (const definition of QUEUES) {
      const suffix = definition.fifo ? '.fifo' : '';
      const source = Object.values(queues).find(
        (q) => q.Properties.QueueName === `${definition.name}${suffix}`,
      );
      const dlq = Object.entries(queues).find(
        ([, q]) => q.Properties.QueueName === `${definition.name}-dlq${suffix}`,
      );
      assert.ok(source && dlq, `${definition.name} and its dead-letter queue`);
      assert.deepEqual(source.Properties.RedrivePolicy, {
        deadLetterTargetArn: { 'Fn::GetAtt': [dlq[0], 'Arn'] },
        maxReceiveCount: definition.maxReceiveCount,
      });
      assert.equal(source.Properties.VisibilityTimeout, definition.visibilityTimeoutSeconds);
      for (const queue of [source, dlq[1]]) {
        assert.equal(queue.Properties.FifoQueue, definition.fifo || undefined);
        assert.equal(queue.Properties.SqsManagedSseEnabled, true);
      }
      const alarm = alarms.filter(
        (a) =>
          JSON.stringify(a.Properties.Dimensions) ===
          JSON.stringify([{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq[0], 'QueueName'] } }]),
      );
      assert.equal(alarm.length, 1, `one alarm on ${definition.name}'s dead-letter queue`);
      assert.equal(alarm[0]?.Properties.Threshold, 1);
      assert.deepEqual(alarm[0]?.Properties.AlarmActions, [{ Ref: logicalIdOf(stack, stack.alarms.topic) }]);
      for (const consumer of ENTRY_POINTS.filter(
        (entry) => entry.trigger.type === 'queue' && entry.trigger.queue === definition.name,
      )) {
        assert.ok(consumer.trigger.type === 'queue');
        template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          FunctionName: { Ref: functionIds(stack).get(consumer.name) },
          EventSourceArn: {
            'Fn::GetAtt': [Object.entries(queues).find(([, q]) => q === source)?.[0], 'Arn'],
          },
          BatchSize: consumer.trigger.batchSize,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
        });
      }
    }
    // Every queue of the template is one of these: no queue without its dead-letter queue and alarm.
    assert.equal(Object.keys(queues).length, 2 * QUEUES.length);
    assert.equal(alarms.length, QUEUES.length);
  });

  it('the push queue is FIFO, and its consumer’s timeout fits within its visibility timeout', () => {
    const { template, stack } = kiln();
    const definition = QUEUES.find((q) => q.name === PUSH_QUEUE);
    assert.ok(definition?.fifo, 'one ordered group per branch needs FIFO');
    const consumer = resourcesOf(template, 'AWS::Lambda::Function')[
      functionIds(stack).get('ingestPushes') ?? ''
    ];
    assert.ok(consumer);
    assert.ok(Number(consumer.Properties.Timeout) <= definition.visibilityTimeoutSeconds);
  });

  it('a rule matches the manifest’s very pattern on its bus and targets its function; a schedule runs its expression in its time zone', () => {
    const { stack, template } = withEveryTrigger();
    const rules = Object.values(resourcesOf(template, 'AWS::Events::Rule'));
    const ruleEntries = ENTRY_POINTS.filter((entry) => entry.trigger.type === 'rule');
    assert.ok(ruleEntries.some((entry) => entry.name === 'enqueueCodeCommitPush'));
    assert.equal(rules.length, ruleEntries.length);
    for (const entry of ruleEntries) {
      assert.ok(entry.trigger.type === 'rule');
      const rule = rules.find((r) => r.Properties.Description === `Kiln: ${entry.name}`);
      assert.ok(rule, entry.name);
      assert.deepEqual(rule.Properties.EventPattern, entry.trigger.pattern);
      if (entry.trigger.bus === 'default')
        assert.equal(rule.Properties.EventBusName, undefined, 'on the default bus');
      else assert.deepEqual(rule.Properties.EventBusName, { Ref: logicalIdOf(stack, stack.events.bus) });
      const functionId = functionIds(stack).get(entry.name);
      assert.deepEqual((rule.Properties.Targets as { Arn: unknown }[])[0]?.Arn, {
        'Fn::GetAtt': [functionId, 'Arn'],
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        FunctionName: { 'Fn::GetAtt': [functionId, 'Arn'] },
        Principal: 'events.amazonaws.com',
      });
    }
    assert.deepEqual(
      rules.find((r) => r.Properties.Description === 'Kiln: enqueueCodeCommitPush')?.Properties.EventPattern,
      CODECOMMIT_BRANCH_PUSHES,
    );
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: UPKEEP_SCHEDULE,
      ScheduleExpressionTimezone: 'Etc/UTC',
    });
    const schedule = Object.values(resourcesOf(template, 'AWS::Scheduler::Schedule')).find((resource) =>
      String((resource.Properties.Target as { Input: string }).Input).includes('kiln-idle-sweep'),
    );
    assert.ok(schedule, 'the idle sweep has its schedule');
    const input = JSON.parse(String((schedule.Properties.Target as { Input: string }).Input));
    assert.deepEqual(input, {
      schedule: 'kiln-idle-sweep',
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
