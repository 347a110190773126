import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { ENTRY_POINTS, QUEUES } from '../../functions/manifest.ts';
import { RETRIED_BY_DESIGN } from '../../infra/constructs/alarms.ts';
import { kiln, logicalIdOf, resourcesOf } from './kiln-template.ts';

describe('alarms', () => {
  const alarms = () => Object.values(resourcesOf(kiln().template, 'AWS::CloudWatch::Alarm'));
  const topicId = () => logicalIdOf(kiln().stack, kiln().stack.alarms.topic);

  it('page on any failed execution of each state machine', () => {
    const { stack } = kiln();
    for (const [workflow, stateMachine] of stack.workflows.stateMachines) {
      const id = logicalIdOf(stack, stateMachine);
      const matching = alarms().filter(
        (alarm) =>
          alarm.Properties.MetricName === 'ExecutionsFailed' &&
          JSON.stringify(alarm.Properties.Dimensions).includes(id),
      );
      assert.equal(matching.length, 1, workflow);
      assert.equal(matching[0].Properties.Threshold, 1);
      assert.equal(matching[0].Properties.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
      assert.deepEqual(matching[0].Properties.AlarmActions, [{ Ref: topicId() }]);
    }
  });

  it('page on any error of each handler over 5 minutes, except errors retried by design', () => {
    const { stack } = kiln();
    for (const [name, fn] of stack.functions.byName) {
      const id = logicalIdOf(stack, fn);
      const matching = alarms().filter((alarm) => JSON.stringify(alarm.Properties).includes(`"${id}"`));
      assert.equal(matching.length, 1, name);
      const properties = matching[0].Properties;
      assert.equal(properties.Threshold, 1, name);
      assert.equal(properties.ComparisonOperator, 'GreaterThanOrEqualToThreshold', name);
      assert.deepEqual(properties.AlarmActions, [{ Ref: topicId() }], name);
      if (RETRIED_BY_DESIGN[name]) {
        assert.match(JSON.stringify(properties.Metrics), /errors - FILL\(retried, 0\)/, name);
      } else {
        assert.equal(properties.MetricName, 'Errors', name);
        assert.equal(properties.Period, 300, name);
        assert.equal(properties.Statistic, 'Sum', name);
      }
    }
  });

  it('do not count the lease waits of queued deployments as AcquireLease errors', () => {
    kiln().template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: '{ $.error.name = "LeaseHeldError" }',
      MetricTransformations: [Match.objectLike({ MetricValue: '1', DefaultValue: 0 })],
    });
  });

  it('notify an encrypted, TLS-only topic that CloudWatch may publish to', () => {
    const { template } = kiln();
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      }),
    });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: Match.objectLike({
        Statement: Match.arrayWith([
          Match.objectLike({ Principal: { Service: 'cloudwatch.amazonaws.com' } }),
        ]),
      }),
    });
  });

  it('has the queues and rules of the manifest, nothing more: nothing triggers Kiln unannounced', () => {
    const { template } = kiln();
    template.resourceCountIs('AWS::SQS::Queue', 2 * QUEUES.length);
    template.resourceCountIs(
      'AWS::Events::Rule',
      ENTRY_POINTS.filter((entry) => entry.trigger.type === 'rule').length,
    );
    template.resourceCountIs(
      'AWS::Scheduler::Schedule',
      ENTRY_POINTS.filter((entry) => entry.trigger.type === 'schedule').length,
    );
    template.resourceCountIs('AWS::Pipes::Pipe', 0);
  });
});
