import type { PushQueue } from '../../core/ports/push-queue.ts';
import type { Push } from '../../core/pushes.ts';
import { pushMessage } from '../aws/sqs-push-queue.ts';
import type { LocalQueue } from './local-queue.ts';

/**
 * Pushes on the embedded FIFO queue, as the same messages SqsPushQueue sends (body, group per branch,
 * deduplication by delivery): `enqueue` resolves once the message is on disk.
 */
export class LocalPushQueue implements PushQueue {
  readonly #queue: LocalQueue;

  constructor(queue: LocalQueue) {
    // A standard queue would lose the per-branch order and the deduplication the consumer relies on.
    if (!queue.fifo) throw new TypeError(`The push queue must be a FIFO queue; ${queue.name} is not`);
    this.#queue = queue;
  }

  async enqueue(push: Push): Promise<void> {
    const message = pushMessage(push);
    await this.#queue.send({
      body: message.body,
      groupId: message.groupId,
      deduplicationId: message.deduplicationId,
    });
  }
}
