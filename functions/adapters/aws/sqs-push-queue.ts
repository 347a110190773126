import { createHash, randomUUID } from 'node:crypto';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { PushQueue } from '../../core/ports/push-queue.ts';
import type { Push } from '../../core/pushes.ts';

/** A push as a FIFO message: what SendMessage gets on AWS and LocalQueue#send embedded. */
export interface PushMessage {
  /** `{"push": <Push>}`: what the push consumer reads back (parsePushMessage). */
  body: string;
  /** One group per branch: pushes to a branch are read in order, one at a time; branches in parallel. */
  groupId: string;
  /** One per arrival (see pushDeduplicationId): only a retried send of this very message is dropped. */
  deduplicationId: string;
}

/** SQS's MessageGroupId and MessageDeduplicationId: 1 to 128 ASCII letters, digits and punctuation. */
const SQS_ID = /^[\x21-\x7e]{1,128}$/;

/**
 * The FIFO message that carries one arrival of a push. `arrival` names this acceptance of it (a fresh id
 * for every accepted request): sending this message again (the SDK's retry) is deduplicated, another
 * arrival of the same delivery never is, even within the same millisecond.
 */
export function pushMessage(push: Push, arrival: string = randomUUID()): PushMessage {
  return {
    body: JSON.stringify({ push }),
    groupId: pushGroupId(push),
    deduplicationId: pushDeduplicationId(push, arrival),
  };
}

/**
 * `<provider>:<repository>:<branch>` when SQS takes it as it is (a readable group in the console), else
 * `<provider>#<SHA-256 of provider, repository and branch>` (75 characters): a branch name may be 256
 * characters, or not ASCII. Collision-free: a provider holds neither `:` nor `#`, so the character
 * after it tells the two forms apart; a readable id is only used when the repository holds no `:`, so
 * it splits back into one (provider, repository, branch); hashed ids differ as SHA-256 does.
 */
export function pushGroupId(push: Pick<Push, 'provider' | 'repository' | 'branch'>): string {
  const readable = `${push.provider}:${push.repository}:${push.branch}`;
  if (SQS_ID.test(readable) && !push.repository.includes(':')) return readable;
  return `${push.provider}#${sha256([push.provider, push.repository, push.branch])}`;
}

/**
 * One arrival of a delivery: `<provider>:<delivery id>:<arrival id>`, hashed when too long for SQS. SQS
 * drops a message whose deduplication id it saw in the last 5 minutes: keyed by the arrival, that drops
 * only a retried send of the same arrival, while a delivery that arrives again (GitHub's redelivery, or
 * the same delivery sent twice at once) reaches the consumer, which recognises it by its delivery id and
 * records it as a duplicate: nothing accepted disappears unrecorded. (Keyed by the arrival's time, two
 * arrivals within one millisecond were one message: one 202 was never recorded.) Collision-free for the
 * reasons pushGroupId gives.
 */
export function pushDeduplicationId(push: Pick<Push, 'provider' | 'deliveryId'>, arrival: string): string {
  const readable = `${push.provider}:${push.deliveryId}:${arrival}`;
  if (SQS_ID.test(readable)) return readable;
  return `${push.provider}#${sha256([push.deliveryId, arrival])}`;
}

/** SHA-256 of a JSON array: its encoding keeps the parts apart, whatever characters they hold. */
function sha256(parts: string[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export interface SqsPushQueueOptions {
  client: SQSClient;
  /** The FIFO push queue (its name ends in `.fifo`; the CDK app gives it a dead-letter queue). */
  queueUrl: string;
}

/**
 * Pushes on an SQS FIFO queue. `enqueue` resolves once SQS has the message (SendMessage answered); its
 * errors, after the SDK's retries, are thrown: the webhook then fails and GitHub can deliver again.
 */
export class SqsPushQueue implements PushQueue {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(options: SqsPushQueueOptions) {
    this.#client = options.client;
    this.#queueUrl = options.queueUrl;
  }

  async enqueue(push: Push): Promise<void> {
    const message = pushMessage(push);
    await this.#client.send(
      new SendMessageCommand({
        QueueUrl: this.#queueUrl,
        MessageBody: message.body,
        MessageGroupId: message.groupId,
        MessageDeduplicationId: message.deduplicationId,
      }),
    );
  }
}
