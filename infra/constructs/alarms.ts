import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, MetricFilter } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { KilnQueue } from './queues.ts';

/**
 * Errors a workflow retries by design, thrown in normal operation: AcquireLease throws LeaseHeldError
 * every 2 s while a deployment queues behind another. Counting them would page on every queue.
 */
export const RETRIED_BY_DESIGN: Readonly<Record<string, readonly string[]>> = {
  AcquireLease: ['LeaseHeldError'],
};

const PERIOD = Duration.minutes(5);

export interface KilnAlarmsProps {
  /** Workflow name → state machine. */
  stateMachines: ReadonlyMap<string, IStateMachine>;
  /** Handler module name → function. */
  functions: ReadonlyMap<string, LambdaFunction>;
  /** Queues whose dead-letter alarms notify the topic too. */
  queues?: readonly KilnQueue[];
}

/**
 * Alarms on what needs a person: a workflow execution that failed (its compensation path did not
 * save it) and any handler error. Both notify one SNS topic; subscribe the team's channel to it.
 */
export class KilnAlarms extends Construct {
  readonly topic: Topic;

  constructor(scope: Construct, id: string, props: KilnAlarmsProps) {
    super(scope, id);
    // A customer managed key: CloudWatch can publish to an encrypted topic only if the key policy lets
    // it use the key, which the AWS managed aws/sns key does not.
    const key = new Key(this, 'TopicKey', {
      description: 'Kiln alarm notifications',
      enableKeyRotation: true,
    });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new Topic(this, 'Topic', {
      displayName: 'Kiln alarms',
      masterKey: key,
      enforceSSL: true,
    });
    const action = new SnsAction(this.topic);

    // Rollbacks, cancellations and superseded requests are outcomes: their executions succeed, with the
    // outcome in their output. An execution fails only when cleanup failed (its CleanupFailed state) or
    // Kiln itself broke, so this alarm always needs an operator.
    for (const [workflow, stateMachine] of props.stateMachines) {
      new Alarm(this, `${workflow}ExecutionsFailed`, {
        alarmDescription: `A Kiln ${workflow} execution failed: cleanup did not complete (resources may be left behind) or Kiln itself broke; look at the execution history and the deployment's warnings.`,
        metric: stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(action);
    }

    for (const queue of props.queues ?? []) queue.deadLetterAlarm.addAlarmAction(action);

    for (const [name, fn] of props.functions) {
      new Alarm(this, `${name}Errors`, {
        alarmDescription: `Kiln handler ${name} failed (threw, timed out or crashed), other than errors its workflow retries by design.`,
        metric: this.unexpectedErrors(name, fn),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }).addAlarmAction(action);
    }
  }

  /**
   * Lambda's Errors metric, minus the errors retried by design (counted from the handler's own
   * `task failed` log line, which names the error).
   */
  private unexpectedErrors(name: string, fn: LambdaFunction): IMetric {
    const errors = fn.metricErrors({ period: PERIOD, statistic: 'Sum' });
    const expected = RETRIED_BY_DESIGN[name];
    if (!expected) return errors;
    const filter = new MetricFilter(this, `${name}RetriedErrors`, {
      logGroup: fn.logGroup,
      filterPattern: FilterPattern.any(
        ...expected.map((errorName) => FilterPattern.stringValue('$.error.name', '=', errorName)),
      ),
      metricNamespace: 'Kiln',
      metricName: `${name}RetriedErrors`,
      metricValue: '1',
      defaultValue: 0,
    });
    return new MathExpression({
      label: `${name} errors not retried by design`,
      expression: 'errors - FILL(retried, 0)',
      usingMetrics: { errors, retried: filter.metric({ period: PERIOD, statistic: 'Sum' }) },
      period: PERIOD,
    });
  }
}
