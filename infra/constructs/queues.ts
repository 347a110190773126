import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { QueueDefinition } from '../../functions/manifest.ts';

/** How long a dead-lettered message is kept: long enough for an operator to look and redrive it. */
export const DEAD_LETTER_RETENTION = Duration.days(14);

/**
 * Every queue Kiln consumes, built one way: the queue (encrypted, TLS only), its dead-letter queue after
 * `maxReceiveCount` receives, an alarm as soon as the dead-letter queue holds anything, and the event
 * source mapping to its consumer reporting partial batch failures (one bad message never redelivers the
 * others). Embedded, LocalQueue and QueuePoller give the same semantics.
 */
export class KilnQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;
  readonly deadLetterAlarm: Alarm;

  constructor(scope: Construct, id: string, definition: QueueDefinition) {
    super(scope, id);
    const suffix = definition.fifo ? '.fifo' : '';
    this.deadLetterQueue = new Queue(this, 'DeadLetter', {
      queueName: `${definition.name}-dlq${suffix}`,
      fifo: definition.fifo || undefined,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DEAD_LETTER_RETENTION,
    });
    this.queue = new Queue(this, 'Queue', {
      queueName: `${definition.name}${suffix}`,
      fifo: definition.fifo || undefined,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(definition.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: definition.maxReceiveCount },
    });
    this.deadLetterAlarm = new Alarm(this, 'DeadLetterAlarm', {
      alarmDescription: `Messages of ${definition.name} failed ${definition.maxReceiveCount} times and wait in its dead-letter queue: look at them, fix the cause, redrive them.`,
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1) }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  /** Has `consumer` take batches of up to `batchSize`, reporting which records failed. */
  consumeWith(consumer: IFunction, batchSize: number, maxBatchingWindowSeconds?: number): void {
    consumer.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize,
        reportBatchItemFailures: true,
        ...(maxBatchingWindowSeconds
          ? { maxBatchingWindow: Duration.seconds(maxBatchingWindowSeconds) }
          : {}),
      }),
    );
  }
}
