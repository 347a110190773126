import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsPushQueue } from '../../adapters/aws/sqs-push-queue.ts';
import type { PushQueue } from '../../core/ports/push-queue.ts';
import { readPushQueueConfig } from '../config.ts';

/** The FIFO queue KILN_PUSH_QUEUE_URL names. */
export function buildAwsPushQueue(config = readPushQueueConfig(), client = new SQSClient({})): PushQueue {
  return new SqsPushQueue({ client, queueUrl: config.queueUrl });
}
