import type { Push } from '../pushes.ts';

/**
 * Where accepted pushes wait to be ingested (SQS FIFO on AWS, the embedded queue): the webhook answers
 * as soon as a push is here, never deploying inline. Pushes to one branch keep their order.
 */
export interface PushQueue {
  /** Durably queues the push; resolves once it is accepted. */
  enqueue(push: Push): Promise<void>;
}
