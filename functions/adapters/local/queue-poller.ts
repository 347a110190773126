import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { localLambdaContext } from './lambda-context.ts';
import type { LocalQueue } from './local-queue.ts';
import { QueueClosedError } from './queue-errors.ts';

/** A Lambda handler for SQS events, as Kiln's queue handler modules export it (middy-wrapped). */
// biome-ignore lint/suspicious/noConfusingVoidType: aws-lambda's SQSHandler shape; an async handler with no return is Promise<void>.
export type QueueHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse | void>;

export interface QueuePollerOptions {
  /** BatchSize: records per invocation at most (standard queue 1 to 10 000, FIFO 1 to 10). */
  batchSize: number;
  /**
   * MaximumBatchingWindowInSeconds, in ms (0 to 300 000; standard queues only, as in Lambda): how long
   * to keep gathering records before invoking with fewer than batchSize. Default 0: invoke with what one
   * receive returns. A batchSize over 10 needs at least 1 000, as Lambda requires.
   */
  maxBatchingWindowMs?: number;
  /** How long an idle poller waits before looking again (a send wakes it sooner). Default 1 000. */
  idlePollMs?: number;
  /** The function's name, for its Context (Powertools' logger reads it). */
  functionName: string;
  /**
   * The function's timeout: its Context counts down from it, and an invocation still running then has
   * failed, as a timed-out Lambda invocation has. Default: the queue's visibility timeout, the most
   * Lambda accepts (CreateEventSourceMapping refuses a function timeout above it).
   */
  timeoutMs?: number;
  log?: (message: string, detail?: object) => void;
}

/** Lambda's 15-minute ceiling on a function's timeout. */
const MAX_FUNCTION_TIMEOUT_MS = 900_000;
const MAX_BATCHING_WINDOW_MS = 300_000;
/** One ReceiveMessage returns at most 10 messages: a bigger batch is gathered over several receives. */
const MAX_RECEIVE = 10;

/**
 * The embedded Lambda event source mapping for SQS: polls a queue and invokes a handler with batches of
 * real SQS events, then deletes what the invocation processed, with Lambda's rules (the mapping is taken
 * to have FunctionResponseTypes [ReportBatchItemFailures], as Kiln configures its mappings):
 *
 * - resolved without batchItemFailures (undefined, null, {}, an empty or null list): every record is
 *   deleted;
 * - resolved with batchItemFailures naming records by messageId: those stay in flight and come back after
 *   the visibility timeout (alone, or with whatever else is visible then); the others are deleted;
 * - threw, timed out, or answered something Lambda counts as a complete failure: nothing is deleted and
 *   the whole batch comes back after the visibility timeout. Lambda treats a batch as a complete failure
 *   if the function returns "an invalid JSON response, an empty string itemIdentifier, a null
 *   itemIdentifier, an itemIdentifier with a bad key name, an itemIdentifier value with a message ID
 *   that doesn't exist" (AWS Lambda Developer Guide, "Using Lambda with Amazon SQS", section "Success
 *   and failure conditions", #sqs-batchfailurereporting-conditions: awsdocs/aws-lambda-developer-guide
 *   doc_source/with-sqs.md; the guide now keeps it on
 *   https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html). Embedded also
 *   counts a response that is not an object, or a batchItemFailures that is not a list, as invalid:
 *   retrying is the safe reading of an answer Lambda could not map to records.
 *
 * A failed message is never deleted or made visible early by the poller: SQS's receive count and redrive
 * policy decide when it goes to the dead-letter queue, as in the cloud.
 *
 * Where embedded differs: one batch at a time (Lambda runs up to 1 000 batches at once, and FIFO groups
 * in parallel), no backoff after errors, no 6 MB payload cap on a batch, and an invocation that times out
 * is abandoned, not killed: its handler may still be running while the batch is redelivered.
 */
export class QueuePoller {
  readonly #queue: LocalQueue;
  readonly #handler: QueueHandler;
  readonly #batchSize: number;
  readonly #maxBatchingWindowMs: number;
  readonly #idlePollMs: number;
  readonly #functionName: string;
  readonly #timeoutMs: number;
  readonly #log: (message: string, detail?: object) => void;
  #running: Promise<void> | undefined;
  #stopping = new AbortController();

  constructor(queue: LocalQueue, handler: QueueHandler, options: QueuePollerOptions) {
    const { batchSize, maxBatchingWindowMs = 0, idlePollMs = 1000, functionName } = options;
    const visibilityMs = queue.visibilityTimeoutSeconds * 1000;
    const timeoutMs = options.timeoutMs ?? Math.min(visibilityMs, MAX_FUNCTION_TIMEOUT_MS);
    const maxBatchSize = queue.fifo ? MAX_RECEIVE : 10_000;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > maxBatchSize) {
      throw new RangeError(`batchSize must be an integer from 1 to ${maxBatchSize} for queue ${queue.name}`);
    }
    if (!Number.isInteger(maxBatchingWindowMs) || maxBatchingWindowMs < 0) {
      throw new RangeError('maxBatchingWindowMs must be a whole number of milliseconds');
    }
    if (maxBatchingWindowMs > MAX_BATCHING_WINDOW_MS) {
      throw new RangeError(`maxBatchingWindowMs must be at most ${MAX_BATCHING_WINDOW_MS} (5 minutes)`);
    }
    if (queue.fifo && maxBatchingWindowMs > 0) {
      throw new RangeError(`A batching window applies only to standard queues; ${queue.name} is FIFO`);
    }
    if (batchSize > MAX_RECEIVE && maxBatchingWindowMs < 1000) {
      throw new RangeError('A batchSize over 10 needs a maxBatchingWindowMs of at least 1000');
    }
    if (!(idlePollMs > 0)) throw new RangeError('idlePollMs must be positive');
    if (!(timeoutMs >= 1) || timeoutMs > Math.min(visibilityMs, MAX_FUNCTION_TIMEOUT_MS)) {
      throw new RangeError(
        `The function timeout (${timeoutMs} ms) must be positive and at most the visibility timeout of ${queue.name} (${visibilityMs} ms) and 15 minutes`,
      );
    }
    this.#queue = queue;
    this.#handler = handler;
    this.#batchSize = batchSize;
    this.#maxBatchingWindowMs = maxBatchingWindowMs;
    this.#idlePollMs = idlePollMs;
    this.#functionName = functionName;
    this.#timeoutMs = timeoutMs;
    this.#log = options.log ?? (() => {});
  }

  /** Starts polling in the background; a running poller is left as it is. */
  start(): void {
    if (this.#running) return;
    this.#stopping = new AbortController();
    this.#running = this.#poll(this.#stopping.signal);
  }

  /**
   * Stops polling and waits for the batch in flight: its invocation (at most the function timeout) and
   * the deletes after it. A batching window still gathering ends at once and its batch is invoked, so
   * that no received message waits out a visibility timeout for nothing.
   */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#running;
    this.#running = undefined;
  }

  async #poll(stopping: AbortSignal): Promise<void> {
    while (!stopping.aborted) {
      try {
        const batch = await this.#gatherBatch(stopping);
        if (batch.length === 0) await this.#queue.waitForMessages(this.#idlePollMs, stopping);
        else await this.#invoke(batch);
      } catch (error) {
        if (error instanceof QueueClosedError) return;
        this.#log(`polling ${this.#queue.name} failed`, { error: describe(error) });
        await this.#queue.waitForMessages(this.#idlePollMs, stopping);
      }
    }
  }

  /** One receive; with a batching window, more receives until the batch is full or the window ends. */
  async #gatherBatch(stopping: AbortSignal): Promise<SQSRecord[]> {
    const batch = await this.#queue.receive(Math.min(MAX_RECEIVE, this.#batchSize));
    if (batch.length === 0 || this.#maxBatchingWindowMs === 0) return batch;
    const windowEnd = performance.now() + this.#maxBatchingWindowMs;
    while (batch.length < this.#batchSize && !stopping.aborted) {
      const left = windowEnd - performance.now();
      if (left <= 0) break;
      const more = await this.#queue.receive(Math.min(MAX_RECEIVE, this.#batchSize - batch.length));
      if (more.length > 0) batch.push(...more);
      else await this.#queue.waitForMessages(Math.min(left, this.#idlePollMs), stopping);
    }
    return batch;
  }

  /** Invokes the handler with the batch, then deletes the records the outcome says are processed. */
  async #invoke(batch: SQSRecord[]): Promise<void> {
    // The handler gets its own copy, as across Lambda's JSON boundary: nothing it does to the event
    // changes which receipt handles are deleted.
    const receipts = new Map(batch.map((record) => [record.messageId, record.receiptHandle]));
    const outcome = await this.#call({ Records: structuredClone(batch) });
    const failed = failedRecords(outcome, new Set(receipts.keys()));
    if (failed === 'all') {
      this.#log(`${this.#functionName} failed its batch of ${batch.length} from ${this.#queue.name}`, {
        reason: outcome.kind === 'returned' ? 'invalid batch response' : describe(outcome.error),
        messageIds: [...receipts.keys()],
      });
      return;
    }
    if (failed.size > 0) {
      this.#log(`${this.#functionName} failed ${failed.size} of ${batch.length} from ${this.#queue.name}`, {
        messageIds: [...failed],
      });
    }
    for (const [messageId, receiptHandle] of receipts) {
      if (failed.has(messageId)) continue;
      await this.#queue.delete(receiptHandle).catch((error: unknown) => {
        // Not deleted: it comes back after its visibility timeout, as after a failed DeleteMessage.
        this.#log(`could not delete ${messageId} from ${this.#queue.name}`, { error: describe(error) });
      });
    }
  }

  /**
   * Calls the handler as Lambda does: a fresh Context, its response through JSON (a response JSON cannot
   * carry is invalid), and failure when the function timeout passes first.
   */
  async #call(event: SQSEvent): Promise<Outcome> {
    const context = localLambdaContext(this.#functionName, this.#timeoutMs);
    const invocation = Promise.resolve()
      .then(() => this.#handler(event, context))
      .then(
        (response): Outcome => {
          try {
            const json = JSON.stringify(response);
            return { kind: 'returned', response: json === undefined ? null : JSON.parse(json) };
          } catch {
            return { kind: 'returned', response: INVALID_RESPONSE };
          }
        },
        (error: unknown): Outcome => ({ kind: 'threw', error }),
      );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => {
        const error = new Error(`Task timed out after ${this.#timeoutMs} ms`);
        error.name = 'TimeoutError';
        resolve({ kind: 'threw', error });
      }, this.#timeoutMs);
    });
    try {
      return await Promise.race([invocation, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

type Outcome = { kind: 'returned'; response: unknown } | { kind: 'threw'; error: unknown };

/** Stands for a response that does not survive JSON (a BigInt, a cycle). */
const INVALID_RESPONSE = Symbol('invalid response');

/** The records an outcome leaves in the queue: 'all' for a complete failure, else those it names. */
function failedRecords(outcome: Outcome, messageIds: Set<string>): 'all' | Set<string> {
  if (outcome.kind === 'threw') return 'all';
  const { response } = outcome;
  if (response === null) return new Set();
  if (typeof response !== 'object' || Array.isArray(response)) return 'all';
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return 'all';
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !messageIds.has(id)) return 'all';
    failed.add(id);
  }
  return failed;
}

function describe(error: unknown): { name: string; message: string } {
  return error instanceof Error
    ? { name: error.name, message: error.message }
    : { name: 'Error', message: String(error) };
}
