/**
 * The embedded SQS: an in-process queue with the semantics Kiln's queue handlers rely on in the cloud,
 * kept on disk so that `npm start` can die at any instant without losing or duplicating more than SQS
 * would (at-least-once delivery: a message may come twice, never zero times).
 *
 * - A message is durable before `send` resolves, and so is each receive (its count, its new receipt
 *   handle, the time until which it is invisible), before `receive` returns it. A message that was in
 *   flight when the process died is visible again as soon as the queue is opened anew, with its receive
 *   count intact (a poison message still reaches the dead-letter queue): its consumer died with the
 *   process that held the folder's lock, so nobody can still be working on it, and waiting out a
 *   visibility timeout sized for a Lambda function (minutes) would only stall a restarted `npm start`.
 * - Visibility timeout, receive count and redrive to a dead-letter queue as SQS's RedrivePolicy does:
 *   the receive that would exceed `maxReceiveCount` moves the message instead of delivering it.
 * - FIFO queues: strict order within a message group, at most one receive of a group in flight at a
 *   time, deduplication within 5 minutes by MessageDeduplicationId or the body's SHA-256.
 *
 * Where embedded differs from SQS, on purpose: one queue is read in one process (its folder is locked),
 * so nothing is "approximate": counts are exact and a standard queue hands messages out in send order
 * (SQS only tries to). No retention period (nothing expires), no DelaySeconds, no long-polling API (the
 * poller waits with `waitForMessages`), and only String message attributes.
 */

import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { SQSRecord } from 'aws-lambda';
import { systemClock } from '../../core/ports/clock.ts';
import {
  InvalidParameterValueError,
  MessageNotInflightError,
  MissingDeduplicationIdError,
  QueueClosedError,
  ReceiptHandleIsInvalidError,
} from './queue-errors.ts';
import { type QueueEntry, QueueFolder } from './queue-files.ts';
import {
  checkOutgoingMessage,
  contentDeduplicationId,
  DEDUPLICATION_WINDOW_MS,
  type DeduplicationRecord,
  formatSequence,
  MAX_VISIBILITY_SECONDS,
  messageIdOfReceiptHandle,
  newReceiptHandle,
  type OutgoingMessage,
  type StoredMessage,
  toSqsRecord,
} from './sqs-message.ts';

export * from './queue-errors.ts';
export { type QueueHandler, QueuePoller, type QueuePollerOptions } from './queue-poller.ts';

/** Time source for visibility timeouts and deduplication windows; tests inject one they can move. */
export interface QueueClock {
  now(): Date;
}

export interface LocalQueueOptions {
  /** The queue's name, as in SQS: letters, digits, `-`, `_`, at most 80 characters, `.fifo` for FIFO queues. */
  name: string;
  /**
   * Folder of the embedded queues: this queue keeps its messages in `<dir>/<name>/` (created 0700,
   * files 0600), so that several queues (a source and its DLQ) can share one. In memory when absent.
   */
  dir?: string;
  /** SQS's VisibilityTimeout: how long a received message stays invisible (0 to 43 200 s). */
  visibilityTimeoutSeconds: number;
  /** RedrivePolicy's maxReceiveCount (1 to 1000): with `deadLetterQueue`, deliveries before the move. */
  maxReceiveCount?: number;
  /** RedrivePolicy's deadLetterTargetArn: a queue of the same type (FIFO for FIFO). */
  deadLetterQueue?: LocalQueue;
  /** A FIFO queue: message groups, ordering within a group, deduplication. The name must end in `.fifo`. */
  fifo?: boolean;
  /** FIFO only, SQS's ContentBasedDeduplication: a send without deduplicationId uses the body's SHA-256. */
  contentBasedDeduplication?: boolean;
  clock?: QueueClock;
  /** For the ARN and `awsRegion` in records; default 'local'. */
  region?: string;
  /** For the ARN and the SenderId in records; default '000000000000'. */
  accountId?: string;
}

export interface SentMessage {
  messageId: string;
  /** FIFO only: the message's place in the queue (20 digits), as SendMessage returns it. */
  sequenceNumber?: string;
}

/** ApproximateNumberOfMessages (visible) and ApproximateNumberOfMessagesNotVisible (in flight); exact here. */
export interface QueueCounts {
  visible: number;
  inFlight: number;
  delayed?: number;
}

/** A deduplication id while its window lasts: the message it first came with. */
interface DeduplicationEntry {
  messageId: string;
  sequence: string;
  sentAt: number;
  /** The message is gone (deleted or redriven) and only its deduplication record is on disk. */
  deleted: boolean;
}

const QUEUE_NAME = /^[A-Za-z0-9_-]+(\.fifo)?$/;
const DEFAULT_REGION = 'local';
const DEFAULT_ACCOUNT_ID = '000000000000';
/** SQS's ReceiveMessage returns at most 10 messages. */
const MAX_RECEIVE = 10;

export class LocalQueue {
  readonly name: string;
  readonly arn: string;
  readonly fifo: boolean;
  readonly visibilityTimeoutSeconds: number;
  readonly region: string;
  readonly #senderId: string;
  readonly #maxReceiveCount: number | undefined;
  readonly #deadLetterQueue: LocalQueue | undefined;
  readonly #contentBasedDeduplication: boolean;
  readonly #clock: QueueClock;
  readonly #folder: QueueFolder | undefined;
  /** Every message of the queue, in queue order (sequence order: a Map keeps insertion order). */
  readonly #messages = new Map<string, StoredMessage>();
  /** FIFO: deduplication id → the message it came with, for 5 minutes from that send. */
  readonly #deduplication = new Map<string, DeduplicationEntry>();
  #lastSequence = 0n;
  /** The tail of the operations: they run one at a time, each seeing the state the previous one left. */
  #tail: Promise<unknown> = Promise.resolve();
  readonly #arrivalListeners = new Set<() => void>();
  #closed = false;

  private constructor(options: LocalQueueOptions, folder: QueueFolder | undefined) {
    this.name = options.name;
    this.fifo = options.fifo ?? false;
    this.visibilityTimeoutSeconds = options.visibilityTimeoutSeconds;
    this.region = options.region ?? DEFAULT_REGION;
    this.#senderId = options.accountId ?? DEFAULT_ACCOUNT_ID;
    this.arn = `arn:aws:sqs:${this.region}:${this.#senderId}:${options.name}`;
    this.#maxReceiveCount = options.maxReceiveCount;
    this.#deadLetterQueue = options.deadLetterQueue;
    this.#contentBasedDeduplication = options.contentBasedDeduplication ?? false;
    this.#clock = options.clock ?? systemClock;
    this.#folder = folder;
  }

  /**
   * Opens the queue, with the messages a previous process left in its folder: those it had in flight are
   * visible again (their consumer is gone with it), with their receive counts.
   * Throws QueueLockedError if another owner has the folder open.
   */
  static async open(options: LocalQueueOptions): Promise<LocalQueue> {
    checkQueueOptions(options);
    if (!options.dir) return new LocalQueue(options, undefined);
    const { folder, entries } = await QueueFolder.open(join(options.dir, options.name), options.name);
    const queue = new LocalQueue(options, folder);
    try {
      await queue.#load(entries);
    } catch (error) {
      folder.release();
      throw error;
    }
    return queue;
  }

  /**
   * SendMessage: resolves once the message is on disk, with its id. On a FIFO queue, a deduplication id
   * seen in the last 5 minutes (explicit, or the body's SHA-256 with content-based deduplication) makes
   * the send a success that enqueues nothing and answers the original message's id, as SQS does.
   */
  async send(message: OutgoingMessage): Promise<SentMessage> {
    this.#checkOpen();
    checkOutgoingMessage(message, this.fifo);
    let deduplicationId: string | undefined;
    if (this.fifo) {
      deduplicationId =
        message.deduplicationId ??
        (this.#contentBasedDeduplication ? contentDeduplicationId(message.body) : undefined);
      if (deduplicationId === undefined) throw new MissingDeduplicationIdError(this.name);
    }
    return this.#exclusive(async () => {
      const now = this.#now();
      if (deduplicationId !== undefined) {
        await this.#expireDeduplication(now);
        const original = this.#deduplication.get(deduplicationId);
        if (original) return { messageId: original.messageId, sequenceNumber: original.sequence };
      }
      const stored: StoredMessage = {
        messageId: randomUUID(),
        sequence: this.#nextSequence(now),
        body: message.body,
        messageAttributes: { ...message.attributes },
        sentAt: now,
        ...(message.groupId !== undefined ? { groupId: message.groupId } : {}),
        ...(deduplicationId !== undefined ? { deduplicationId } : {}),
        receiveCount: 0,
        invisibleUntil: 0,
      };
      await this.#folder?.write(stored);
      this.#messages.set(stored.messageId, stored);
      if (deduplicationId !== undefined) {
        this.#deduplication.set(deduplicationId, {
          messageId: stored.messageId,
          sequence: stored.sequence,
          sentAt: now,
          deleted: false,
        });
      }
      this.#notifyArrival();
      return this.fifo
        ? { messageId: stored.messageId, sequenceNumber: stored.sequence }
        : { messageId: stored.messageId };
    });
  }

  /**
   * ReceiveMessage (1 to 10 messages, no waiting): the visible messages in queue order, each made
   * invisible for the visibility timeout with its receive count raised and a new receipt handle, all
   * on disk before they are returned. A message already received `maxReceiveCount` times is moved to
   * the dead-letter queue instead. FIFO: a group with a message in flight gives nothing; another group
   * gives its messages in order, and as SQS does ("Amazon SQS attempts to return as many messages with
   * the same message group ID as possible": Developer Guide, FIFO queue delivery logic), the batch is
   * filled with the oldest group's messages first, then the next group's.
   */
  async receive(maxMessages: number): Promise<SQSRecord[]> {
    this.#checkOpen();
    if (!Number.isInteger(maxMessages) || maxMessages < 1 || maxMessages > MAX_RECEIVE) {
      throw new InvalidParameterValueError(`maxMessages must be an integer from 1 to ${MAX_RECEIVE}`);
    }
    return this.#exclusive(async () => {
      const now = this.#now();
      const queued = [...this.#messages.values()];
      const busyGroups = new Set(
        this.fifo ? queued.filter((m) => m.invisibleUntil > now).map((m) => m.groupId) : [],
      );
      const received: StoredMessage[] = [];
      const available = queued.filter((m) => m.invisibleUntil <= now && !busyGroups.has(m.groupId));
      for (const message of this.fifo ? groupedFirst(available) : available) {
        if (received.length === maxMessages) break;
        if (this.#deadLetterQueue && message.receiveCount >= (this.#maxReceiveCount as number)) {
          await this.#redrive(message, now);
          continue;
        }
        const receiving: StoredMessage = {
          ...message,
          receiveCount: message.receiveCount + 1,
          firstReceivedAt: message.firstReceivedAt ?? now,
          receivedAt: now,
          invisibleUntil: now + this.visibilityTimeoutSeconds * 1000,
          receiptHandle: newReceiptHandle(message.messageId, message.receiveCount + 1),
        };
        try {
          await this.#folder?.write(receiving);
        } catch (error) {
          // Those already written are in flight: hand them out (dropping them would only delay them a
          // visibility timeout). Stopping here keeps a FIFO group's order.
          if (received.length === 0) throw error;
          break;
        }
        this.#messages.set(receiving.messageId, receiving);
        received.push(receiving);
      }
      return received.map((message) => toSqsRecord(message, this.#recordSource()));
    });
  }

  /**
   * DeleteMessage. Only the handle of the message's latest receive deletes it; an older one (the message
   * was received again since) or the handle of a message already gone deletes nothing and is no error,
   * as in SQS. A handle this queue never issued throws ReceiptHandleIsInvalidError.
   */
  async delete(receiptHandle: string): Promise<void> {
    this.#checkOpen();
    const messageId = messageIdOfReceiptHandle(receiptHandle);
    return this.#exclusive(async () => {
      const message = this.#messages.get(messageId);
      if (!message || message.receiptHandle !== receiptHandle) return;
      await this.#forget(message, this.#now());
    });
  }

  /**
   * ChangeMessageVisibility: the message becomes visible `seconds` from now (0: at once), counted from
   * now, not from the receive. As SQS: the handle must be the latest receive's
   * (ReceiptHandleIsInvalidError), the message must still be in flight (MessageNotInflightError), and
   * no message stays in flight more than 12 hours after its receive (InvalidParameterValueError).
   */
  async changeVisibility(receiptHandle: string, seconds: number): Promise<void> {
    this.#checkOpen();
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_VISIBILITY_SECONDS) {
      throw new InvalidParameterValueError(
        `The visibility timeout must be an integer from 0 to ${MAX_VISIBILITY_SECONDS} seconds`,
      );
    }
    const messageId = messageIdOfReceiptHandle(receiptHandle);
    return this.#exclusive(async () => {
      const message = this.#messages.get(messageId);
      if (!message || message.receiptHandle !== receiptHandle) {
        throw new ReceiptHandleIsInvalidError(
          `The receipt handle is not the latest of message ${messageId}: it was deleted, moved or received again`,
        );
      }
      const now = this.#now();
      if (message.invisibleUntil <= now) throw new MessageNotInflightError(messageId);
      const invisibleUntil = now + seconds * 1000;
      if (invisibleUntil > (message.receivedAt as number) + MAX_VISIBILITY_SECONDS * 1000) {
        throw new InvalidParameterValueError(
          `Message ${messageId} cannot stay in flight more than ${MAX_VISIBILITY_SECONDS} seconds after its receive`,
        );
      }
      const changed = { ...message, invisibleUntil };
      await this.#folder?.write(changed);
      this.#messages.set(messageId, changed);
      if (seconds === 0) this.#notifyArrival();
    });
  }

  /** The queue's depth now: what a DLQ-depth alarm watches. */
  async counts(): Promise<QueueCounts> {
    this.#checkOpen();
    const now = this.#now();
    let inFlight = 0;
    for (const message of this.#messages.values()) if (message.invisibleUntil > now) inFlight++;
    return { visible: this.#messages.size - inFlight, inFlight };
  }

  /**
   * Resolves when a message may have become receivable (a send, a redrive into this queue, a visibility
   * ended by changeVisibility), after `timeoutMs` of real time, or on `signal`'s abort, whichever comes
   * first: the wake-up behind long polling. Messages whose visibility timeout runs out wake nobody:
   * a poller looks again after its idle interval.
   */
  waitForMessages(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        this.#arrivalListeners.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, timeoutMs));
      this.#arrivalListeners.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Waits for the operations under way, then releases the folder for another owner; later calls throw
   * QueueClosedError. Stop the pollers on the queue first, and close a source before its dead-letter queue
   * (a receive may move a message into it).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail.catch(() => undefined);
    this.#folder?.release();
    for (const wake of [...this.#arrivalListeners]) wake();
  }

  async #load(entries: QueueEntry[]): Promise<void> {
    entries.sort((a, b) => a.sequence.localeCompare(b.sequence));
    for (const entry of entries) {
      const sequence = BigInt(entry.sequence);
      if (sequence > this.#lastSequence) this.#lastSequence = sequence;
      if (!isDeduplicationRecord(entry)) this.#messages.set(entry.messageId, { ...entry, invisibleUntil: 0 });
      const deduplicationId = entry.deduplicationId;
      // A message redriven here was not sent here: its deduplication id belongs to its source queue.
      const sentHere = isDeduplicationRecord(entry) || entry.deadLetterSourceArn === undefined;
      if (this.fifo && deduplicationId !== undefined && sentHere) {
        this.#deduplication.set(deduplicationId, {
          messageId: entry.messageId,
          sequence: entry.sequence,
          sentAt: entry.sentAt,
          deleted: isDeduplicationRecord(entry),
        });
      }
    }
    await this.#expireDeduplication(this.#now());
  }

  /**
   * Moves a message to the dead-letter queue, then forgets it here. A crash between the two leaves it in
   * both; the next receive here moves it again, and the dead-letter queue, which already has it, keeps
   * one copy.
   */
  async #redrive(message: StoredMessage, now: number): Promise<void> {
    await (this.#deadLetterQueue as LocalQueue).#acceptRedriven(message, this.arn);
    await this.#forget(message, now);
  }

  /**
   * Takes a message another queue redrives here: same message id, body, attributes, group and
   * deduplication id, and receive count (SQS documents no reset of it); visible at once, with
   * DeadLetterQueueSourceArn set. The send time is kept on a standard queue and restarts on a FIFO one,
   * as SQS documents for the enqueue timestamp. It takes a new place at the end of this queue, and is
   * not a send: it is not deduplicated here.
   */
  async #acceptRedriven(message: StoredMessage, sourceArn: string): Promise<void> {
    this.#checkOpen();
    return this.#exclusive(async () => {
      if (this.#messages.has(message.messageId)) return;
      const now = this.#now();
      const { receiptHandle: _handle, receivedAt: _receivedAt, ...kept } = message;
      const moved: StoredMessage = {
        ...kept,
        sequence: this.#nextSequence(now),
        sentAt: this.fifo ? now : message.sentAt,
        invisibleUntil: 0,
        deadLetterSourceArn: sourceArn,
      };
      await this.#folder?.write(moved);
      this.#messages.set(moved.messageId, moved);
      this.#notifyArrival();
    });
  }

  /**
   * Drops a deleted or redriven message. A FIFO message whose deduplication window still runs leaves its
   * deduplication record in its place, so that a duplicate send after a restart is still recognised.
   */
  async #forget(message: StoredMessage, now: number): Promise<void> {
    const deduplicationId = message.deduplicationId;
    const window = deduplicationId !== undefined ? this.#deduplication.get(deduplicationId) : undefined;
    if (deduplicationId !== undefined && window?.messageId === message.messageId && !expired(window, now)) {
      const record: DeduplicationRecord = {
        deleted: true,
        messageId: message.messageId,
        sequence: message.sequence,
        sentAt: message.sentAt,
        deduplicationId,
      };
      await this.#folder?.write(record);
      window.deleted = true;
    } else {
      await this.#folder?.remove(message.messageId);
    }
    this.#messages.delete(message.messageId);
  }

  /** Ends the deduplication windows that ran out, and removes the records of deleted messages with them. */
  async #expireDeduplication(now: number): Promise<void> {
    for (const [deduplicationId, entry] of this.#deduplication) {
      if (!expired(entry, now)) continue;
      if (entry.deleted) await this.#folder?.remove(entry.messageId);
      this.#deduplication.delete(deduplicationId);
    }
  }

  /**
   * Larger than every sequence before it, and after the clock's milliseconds, so that it still grows
   * across a restart that finds the queue empty (as SQS's SequenceNumber keeps growing).
   */
  #nextSequence(now: number): string {
    const fromClock = BigInt(now) * 1_000_000n;
    this.#lastSequence = fromClock > this.#lastSequence ? fromClock : this.#lastSequence + 1n;
    return formatSequence(this.#lastSequence);
  }

  #recordSource() {
    return { arn: this.arn, region: this.region, senderId: this.#senderId };
  }

  #now(): number {
    return this.#clock.now().getTime();
  }

  #notifyArrival(): void {
    for (const wake of [...this.#arrivalListeners]) wake();
  }

  #checkOpen(): void {
    if (this.#closed) throw new QueueClosedError(this.name);
  }

  /** Runs `operation` after every operation called before it has settled. */
  #exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(operation);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

function isDeduplicationRecord(entry: QueueEntry): entry is DeduplicationRecord {
  return 'deleted' in entry && entry.deleted === true;
}

function expired(entry: { sentAt: number }, now: number): boolean {
  return now - entry.sentAt >= DEDUPLICATION_WINDOW_MS;
}

/** Refuses a configuration SQS (CreateQueue, RedrivePolicy) would refuse. */
function checkQueueOptions(options: LocalQueueOptions): void {
  const { name, fifo = false, visibilityTimeoutSeconds, maxReceiveCount, deadLetterQueue } = options;
  if (typeof name !== 'string' || !QUEUE_NAME.test(name) || name.length > 80) {
    throw new InvalidParameterValueError(
      `Queue name "${name}" is invalid: letters, digits, "-" and "_", at most 80 characters (".fifo" included)`,
    );
  }
  if (fifo !== name.endsWith('.fifo')) {
    throw new InvalidParameterValueError(
      fifo
        ? `A FIFO queue's name must end with ".fifo": "${name}"`
        : `Only a FIFO queue's name ends with ".fifo": "${name}"`,
    );
  }
  if (
    !Number.isInteger(visibilityTimeoutSeconds) ||
    visibilityTimeoutSeconds < 0 ||
    visibilityTimeoutSeconds > MAX_VISIBILITY_SECONDS
  ) {
    throw new InvalidParameterValueError(
      `visibilityTimeoutSeconds must be an integer from 0 to ${MAX_VISIBILITY_SECONDS}`,
    );
  }
  if ((maxReceiveCount === undefined) !== (deadLetterQueue === undefined)) {
    throw new InvalidParameterValueError('A redrive policy needs both maxReceiveCount and deadLetterQueue');
  }
  if (
    maxReceiveCount !== undefined &&
    (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000)
  ) {
    throw new InvalidParameterValueError('maxReceiveCount must be an integer from 1 to 1000');
  }
  if (deadLetterQueue && deadLetterQueue.fifo !== fifo) {
    throw new InvalidParameterValueError(
      `The dead-letter queue of a ${fifo ? 'FIFO' : 'standard'} queue must also be a ${fifo ? 'FIFO' : 'standard'} queue`,
    );
  }
  const arn = `arn:aws:sqs:${options.region ?? DEFAULT_REGION}:${options.accountId ?? DEFAULT_ACCOUNT_ID}:${name}`;
  if (deadLetterQueue?.arn === arn) {
    throw new InvalidParameterValueError(`Queue ${name} cannot be its own dead-letter queue`);
  }
  if (options.contentBasedDeduplication && !fifo) {
    throw new InvalidParameterValueError('contentBasedDeduplication is valid only for FIFO queues');
  }
}

/** Messages in sequence order, regrouped: all of the oldest message's group, then the next group's, and so on. */
function groupedFirst(messages: readonly StoredMessage[]): StoredMessage[] {
  const groups = new Map<string | undefined, StoredMessage[]>();
  for (const message of messages) {
    const group = groups.get(message.groupId);
    if (group) group.push(message);
    else groups.set(message.groupId, [message]);
  }
  return [...groups.values()].flat();
}
