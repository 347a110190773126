import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import {
  InvalidMessageContentsError,
  InvalidParameterValueError,
  LocalQueue,
  type LocalQueueOptions,
  MessageNotInflightError,
  MissingDeduplicationIdError,
  QueueClosedError,
  QueueLockedError,
  QueuePoller,
  type QueuePollerOptions,
  ReceiptHandleIsInvalidError,
} from '../../functions/adapters/local/local-queue.ts';

const root = mkdtempSync(join(tmpdir(), 'kiln-queue-'));
const CRASH_CHILD = join(import.meta.dirname, '../fixtures/queue-crash-child.ts');
after(() => rmSync(root, { recursive: true, force: true }));

let folders = 0;
function freshDir(): string {
  return join(root, `queues-${++folders}`);
}

/** A clock the test moves by hand: visibility timeouts and deduplication windows pass without sleeping. */
function manualClock(start = Date.UTC(2026, 11, 1, 9, 0, 0)) {
  let now = start;
  return {
    now: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
    get ms() {
      return now;
    },
  };
}

/** Opens a queue and closes it after the test. */
async function openQueue(t: TestContext, options: Partial<LocalQueueOptions> = {}): Promise<LocalQueue> {
  const queue = await LocalQueue.open({ name: 'kiln-git-pushes', visibilityTimeoutSeconds: 30, ...options });
  t.after(() => queue.close());
  return queue;
}

/** A source queue with a dead-letter queue, both on disk in `dir`. */
async function withDeadLetterQueue(
  t: TestContext,
  options: Partial<LocalQueueOptions> & { maxReceiveCount: number },
) {
  const fifo = options.fifo ?? false;
  const deadLetterQueue = await openQueue(t, {
    ...options,
    name: fifo ? 'kiln-git-pushes-dlq.fifo' : 'kiln-git-pushes-dlq',
    maxReceiveCount: undefined,
  });
  const queue = await openQueue(t, {
    name: fifo ? 'kiln-git-pushes.fifo' : 'kiln-git-pushes',
    ...options,
    deadLetterQueue,
  });
  return { queue, deadLetterQueue };
}

/** Polls a condition (every 10 ms, at most `ms`). */
async function eventually(condition: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function bodies(records: { body: string }[]): string[] {
  return records.map(({ body }) => body);
}

describe('LocalQueue', () => {
  it('has the message on disk when send resolves: a queue reopened on the folder receives it, attributes and all', async (t) => {
    const dir = freshDir();
    const first = await LocalQueue.open({ name: 'kiln-git-pushes', dir, visibilityTimeoutSeconds: 30 });
    const { messageId } = await first.send({ body: '{"ref":"main"}', attributes: { delivery: 'd-1' } });
    await first.close();

    const reopened = await openQueue(t, { dir });
    const [record] = await reopened.receive(10);
    assert.equal(record?.messageId, messageId);
    assert.equal(record?.body, '{"ref":"main"}');
    assert.deepEqual(record?.messageAttributes, {
      delivery: { stringValue: 'd-1', stringListValues: [], binaryListValues: [], dataType: 'String' },
    });
  });

  it("keeps each message's receive count and first receive across a reopen, and gives back what the closed queue had in flight", async (t) => {
    const dir = freshDir();
    const clock = manualClock();
    const options = { name: 'kiln-git-pushes', dir, visibilityTimeoutSeconds: 30, clock };
    const first = await LocalQueue.open(options);
    await first.send({ body: 'push' });
    const [firstDelivery] = await first.receive(1);
    await first.close();

    clock.advance(10_000);
    const reopened = await openQueue(t, { ...options });
    // Its consumer was in the process that closed the queue: nobody is working on it any more.
    assert.deepEqual(await reopened.counts(), { visible: 1, inFlight: 0 });
    const [again] = await reopened.receive(10);
    assert.equal(again?.messageId, firstDelivery?.messageId);
    assert.equal(again?.attributes.ApproximateReceiveCount, '2');
    assert.equal(again?.attributes.ApproximateFirstReceiveTimestamp, String(clock.ms - 10_000));
  });

  it('brings back a received message that is not deleted after the visibility timeout, not before', async (t) => {
    const clock = manualClock();
    const queue = await openQueue(t, { clock });
    await queue.send({ body: 'a' });
    await queue.send({ body: 'b' });
    assert.deepEqual(bodies(await queue.receive(1)), ['a']);
    clock.advance(29_999);
    assert.deepEqual(bodies(await queue.receive(10)), ['b'], 'a is still in flight');
    clock.advance(1);
    const [a] = await queue.receive(10);
    assert.equal(a?.body, 'a');
    assert.equal(a?.attributes.ApproximateReceiveCount, '2');
  });

  it('deletes with the latest receipt handle only: a stale handle deletes nothing', async (t) => {
    const clock = manualClock();
    const queue = await openQueue(t, { clock, dir: freshDir() });
    await queue.send({ body: 'push' });
    const [first] = await queue.receive(1);
    clock.advance(30_000);
    const [second] = await queue.receive(1);
    assert.notEqual(second?.receiptHandle, first?.receiptHandle);

    await queue.delete(first?.receiptHandle as string);
    assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 1 }, 'the stale handle deleted nothing');
    await queue.delete(second?.receiptHandle as string);
    assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 0 });
    clock.advance(60_000);
    assert.deepEqual(await queue.receive(10), [], 'deleted for good');
    await queue.delete(second?.receiptHandle as string); // deleting again is no error, as in SQS
    await assert.rejects(queue.delete('not-a-handle'), ReceiptHandleIsInvalidError);
  });

  it('changeVisibility extends the visibility timeout or ends it at once', async (t) => {
    const clock = manualClock();
    const queue = await openQueue(t, { clock });
    await queue.send({ body: 'slow' });
    await queue.send({ body: 'released' });
    const [slow, released] = await queue.receive(2);

    clock.advance(20_000);
    await queue.changeVisibility(slow?.receiptHandle as string, 60); // 60 s from now, not from the receive
    await queue.changeVisibility(released?.receiptHandle as string, 0);
    const [again] = await queue.receive(10);
    assert.equal(again?.body, 'released');
    await queue.delete(again?.receiptHandle as string);
    clock.advance(59_999);
    assert.deepEqual(await queue.receive(10), []);
    clock.advance(1);
    assert.deepEqual(bodies(await queue.receive(10)), ['slow']);
  });

  it('changeVisibility refuses a stale handle, a message no longer in flight, and more than 12 hours in flight', async (t) => {
    const clock = manualClock();
    const queue = await openQueue(t, { clock });
    await queue.send({ body: 'push' });
    const [first] = await queue.receive(1);
    const handle = first?.receiptHandle as string;

    await assert.rejects(queue.changeVisibility(handle, 43_201), InvalidParameterValueError);
    await queue.changeVisibility(handle, 43_200);
    clock.advance(11 * 3600_000);
    await assert.rejects(queue.changeVisibility(handle, 3600 + 1), InvalidParameterValueError);
    await queue.changeVisibility(handle, 3600); // exactly 12 hours after the receive

    clock.advance(3600_000);
    await assert.rejects(queue.changeVisibility(handle, 30), MessageNotInflightError);
    const [second] = await queue.receive(1);
    await assert.rejects(queue.changeVisibility(handle, 30), ReceiptHandleIsInvalidError);
    await queue.changeVisibility(second?.receiptHandle as string, 30);
  });

  it('gives records the shape of a Lambda SQS event record', async (t) => {
    const clock = manualClock();
    const queue = await openQueue(t, { clock, region: 'eu-west-1', accountId: '123456789012' });
    const { messageId } = await queue.send({
      body: '{"foo": "bared"}',
      attributes: { Hello: 'There', General: 'Kenobi' },
    });
    clock.advance(5);
    const [record] = await queue.receive(1);
    const { receiptHandle, ...rest } = record as NonNullable<typeof record>;
    assert.ok(receiptHandle.length > 0);
    assert.deepEqual(rest, {
      messageId,
      body: '{"foo": "bared"}',
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(clock.ms - 5),
        SenderId: '123456789012',
        ApproximateFirstReceiveTimestamp: String(clock.ms),
      },
      messageAttributes: {
        General: { stringValue: 'Kenobi', stringListValues: [], binaryListValues: [], dataType: 'String' },
        Hello: { stringValue: 'There', stringListValues: [], binaryListValues: [], dataType: 'String' },
      },
      md5OfBody: createHash('md5').update('{"foo": "bared"}').digest('hex'),
      // The digest SQS returned for these attributes (a botocore serializer test's real response).
      md5OfMessageAttributes: 'fca026605781cb4126a1e9044df24232',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:kiln-git-pushes',
      awsRegion: 'eu-west-1',
    });
  });

  it('moves a message to the dead-letter queue at the receive that would exceed maxReceiveCount, attributes and all, and never delivers it again', async (t) => {
    const clock = manualClock();
    const { queue, deadLetterQueue } = await withDeadLetterQueue(t, {
      clock,
      maxReceiveCount: 2,
      dir: freshDir(),
    });
    const { messageId } = await queue.send({ body: 'poison', attributes: { delivery: 'd-9' } });
    const sentAt = clock.ms;
    for (const count of ['1', '2']) {
      const [record] = await queue.receive(1);
      assert.equal(record?.attributes.ApproximateReceiveCount, count);
      clock.advance(30_000);
    }
    assert.deepEqual(await queue.counts(), { visible: 1, inFlight: 0 }, 'SQS moves it at the next receive');
    assert.deepEqual(await queue.receive(10), []);
    assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 0 });
    clock.advance(3600_000);
    assert.deepEqual(await queue.receive(10), [], 'never delivered again from the source');

    const [dead] = await deadLetterQueue.receive(10);
    assert.equal(dead?.messageId, messageId);
    assert.equal(dead?.body, 'poison');
    assert.equal(dead?.messageAttributes.delivery?.stringValue, 'd-9');
    assert.equal(dead?.attributes.SentTimestamp, String(sentAt), 'a standard queue keeps the enqueue time');
    assert.equal(dead?.attributes.DeadLetterQueueSourceArn, queue.arn);
    assert.equal(dead?.eventSourceARN, deadLetterQueue.arn);
  });

  it('counts visible and in-flight messages', async (t) => {
    const queue = await openQueue(t, { clock: manualClock() });
    assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 0 });
    for (const body of ['a', 'b', 'c']) await queue.send({ body });
    await queue.receive(2);
    assert.deepEqual(await queue.counts(), { visible: 1, inFlight: 2 });
  });

  it('refuses what SQS refuses', async (t) => {
    const queue = await openQueue(t);
    await assert.rejects(queue.send({ body: '' }), InvalidParameterValueError);
    await assert.rejects(queue.send({ body: 'x'.repeat(1_048_577) }), InvalidParameterValueError);
    await assert.rejects(
      queue.send({ body: 'x'.repeat(1_048_570), attributes: { delivery: 'd-1' } }),
      InvalidParameterValueError,
      'attributes count against the size',
    );
    await assert.rejects(queue.send({ body: 'bell \u0007' }), InvalidMessageContentsError);
    await assert.rejects(queue.send({ body: 'lone \uD800 surrogate' }), InvalidMessageContentsError);
    await assert.rejects(
      queue.send({ body: 'x', attributes: { 'AWS.trace': 'x' } }),
      InvalidParameterValueError,
    );
    await assert.rejects(queue.send({ body: 'x', attributes: { empty: '' } }), InvalidParameterValueError);
    await assert.rejects(queue.send({ body: 'x', deduplicationId: 'd' }), InvalidParameterValueError);
    await assert.rejects(queue.receive(11), InvalidParameterValueError);
    await assert.rejects(queue.receive(0), InvalidParameterValueError);
    await queue.send({ body: 'x'.repeat(1_048_576) }); // the largest SQS accepts

    await assert.rejects(
      LocalQueue.open({ name: 'pushes.fifo', visibilityTimeoutSeconds: 30 }),
      InvalidParameterValueError,
    );
    await assert.rejects(
      LocalQueue.open({ name: 'pushes', fifo: true, visibilityTimeoutSeconds: 30 }),
      InvalidParameterValueError,
    );
    await assert.rejects(
      LocalQueue.open({ name: 'pushes', visibilityTimeoutSeconds: 43_201 }),
      InvalidParameterValueError,
    );
    await assert.rejects(
      LocalQueue.open({ name: 'pushes', visibilityTimeoutSeconds: 30, maxReceiveCount: 3 }),
      InvalidParameterValueError,
      'a redrive policy needs a dead-letter queue',
    );
    await assert.rejects(
      LocalQueue.open({
        name: 'pushes.fifo',
        fifo: true,
        visibilityTimeoutSeconds: 30,
        maxReceiveCount: 3,
        deadLetterQueue: queue,
      }),
      InvalidParameterValueError,
      "a FIFO queue's dead-letter queue is FIFO",
    );
  });

  it('keeps its folder private, lets one owner at a time open it, and refuses calls once closed', async (t) => {
    const dir = freshDir();
    const queue = await LocalQueue.open({ name: 'kiln-git-pushes', dir, visibilityTimeoutSeconds: 30 });
    await queue.send({ body: 'secret-ish' });
    const folder = join(dir, 'kiln-git-pushes');
    assert.equal(statSync(folder).mode & 0o777, 0o700);
    for (const file of readdirSync(folder))
      assert.equal(statSync(join(folder, file)).mode & 0o777, 0o600, file);

    await assert.rejects(
      LocalQueue.open({ name: 'kiln-git-pushes', dir, visibilityTimeoutSeconds: 30 }),
      QueueLockedError,
    );
    await queue.close();
    await assert.rejects(queue.send({ body: 'late' }), QueueClosedError);
    const next = await openQueue(t, { dir });
    assert.deepEqual(bodies(await next.receive(10)), ['secret-ish']);
  });

  it('ignores the temp file of a write that a crash interrupted', async (t) => {
    const dir = freshDir();
    const queue = await LocalQueue.open({ name: 'kiln-git-pushes', dir, visibilityTimeoutSeconds: 30 });
    await queue.send({ body: 'kept' });
    await queue.close();
    const torn = join(dir, 'kiln-git-pushes', 'f00dfeed-0000-4000-8000-000000000000.json.0123456789ab.tmp');
    writeFileSync(torn, '{"messageId": "f00d', { mode: 0o600 });

    const reopened = await openQueue(t, { dir });
    assert.deepEqual(bodies(await reopened.receive(10)), ['kept']);
    assert.equal(existsSync(torn), false);
  });
});

describe('LocalQueue (FIFO)', () => {
  const fifo = { name: 'kiln-git-pushes.fifo', fifo: true } as const;

  it('delivers a group in order, and nothing more of it while one of its messages is in flight; other groups proceed', async (t) => {
    const queue = await openQueue(t, { ...fifo, contentBasedDeduplication: true, clock: manualClock() });
    for (const body of ['a1', 'a2', 'b1', 'a3', 'b2']) await queue.send({ body, groupId: body[0] });

    assert.deepEqual(bodies(await queue.receive(1)), ['a1']);
    assert.deepEqual(bodies(await queue.receive(10)), ['b1', 'b2'], 'group a waits for a1');
    assert.deepEqual(await queue.receive(10), [], 'both groups are in flight');
    assert.deepEqual(await queue.counts(), { visible: 2, inFlight: 3 });
  });

  it('fills a batch with the oldest group first, then the next, each in order, as SQS does', async (t) => {
    const queue = await openQueue(t, { ...fifo, contentBasedDeduplication: true, clock: manualClock() });
    for (const body of ['a1', 'b1', 'c1', 'a2', 'b2', 'a3', 'c2'])
      await queue.send({ body, groupId: body[0] });

    assert.deepEqual(bodies(await queue.receive(4)), ['a1', 'a2', 'a3', 'b1']);
    assert.deepEqual(bodies(await queue.receive(10)), ['c1', 'c2'], 'b waits for b1; c in order');
  });

  it('delivers the rest of a group once its message in flight is deleted, and a failed one again before the rest', async (t) => {
    const clock = manualClock();
    const queue = await openQueue(t, { ...fifo, contentBasedDeduplication: true, clock });
    for (const body of ['a1', 'a2', 'a3']) await queue.send({ body, groupId: 'a' });

    const [a1] = await queue.receive(1);
    await queue.delete(a1?.receiptHandle as string);
    const [a2] = await queue.receive(1);
    assert.equal(a2?.body, 'a2');
    clock.advance(30_000); // a2 failed: it comes back before a3
    assert.deepEqual(bodies(await queue.receive(10)), ['a2', 'a3']);
  });

  it('unblocks a group when its head goes to the dead-letter queue', async (t) => {
    const clock = manualClock();
    const { queue, deadLetterQueue } = await withDeadLetterQueue(t, {
      fifo: true,
      contentBasedDeduplication: true,
      clock,
      maxReceiveCount: 1,
    });
    await queue.send({ body: 'poison', groupId: 'a', attributes: { delivery: 'd-1' } });
    await queue.send({ body: 'next', groupId: 'a' });
    assert.deepEqual(bodies(await queue.receive(1)), ['poison']);
    clock.advance(30_000);

    assert.deepEqual(bodies(await queue.receive(10)), ['next']);
    const [dead] = await deadLetterQueue.receive(10);
    assert.equal(dead?.body, 'poison');
    assert.equal(dead?.attributes.MessageGroupId, 'a');
    assert.equal(
      dead?.attributes.SentTimestamp,
      String(clock.ms),
      'a FIFO dead-letter queue restarts the enqueue time',
    );
  });

  it('answers a duplicate deduplication id within 5 minutes with the original message id and enqueues nothing', async (t) => {
    const clock = manualClock();
    const queue = await openQueue(t, { ...fifo, clock });
    await assert.rejects(queue.send({ body: 'x', groupId: 'a' }), MissingDeduplicationIdError);
    await assert.rejects(queue.send({ body: 'x', deduplicationId: 'd-1' }), InvalidParameterValueError);

    const original = await queue.send({ body: 'push 1', groupId: 'a', deduplicationId: 'delivery-1' });
    assert.match(original.sequenceNumber as string, /^\d{20}$/);
    clock.advance(4 * 60_000 + 59_999);
    const duplicate = await queue.send({ body: 'another body', groupId: 'b', deduplicationId: 'delivery-1' });
    assert.deepEqual(duplicate, original);
    assert.deepEqual(await queue.counts(), { visible: 1, inFlight: 0 });

    clock.advance(1); // the window is 5 minutes from the first send
    const later = await queue.send({ body: 'push 1 again', groupId: 'a', deduplicationId: 'delivery-1' });
    assert.notEqual(later.messageId, original.messageId);
    assert.ok((later.sequenceNumber as string) > (original.sequenceNumber as string));
    const records = await queue.receive(10);
    assert.deepEqual(bodies(records), ['push 1', 'push 1 again']);
    assert.equal(records[0]?.attributes.MessageDeduplicationId, 'delivery-1');
    assert.equal(records[0]?.attributes.SequenceNumber, original.sequenceNumber);
  });

  it("deduplicates by the body's SHA-256 with content-based deduplication, attributes aside", async (t) => {
    const queue = await openQueue(t, { ...fifo, contentBasedDeduplication: true, clock: manualClock() });
    const first = await queue.send({ body: 'push', groupId: 'a', attributes: { delivery: 'd-1' } });
    assert.deepEqual(
      await queue.send({ body: 'push', groupId: 'a', attributes: { delivery: 'd-2' } }),
      first,
    );
    const other = await queue.send({ body: 'push 2', groupId: 'a' });
    assert.notEqual(other.messageId, first.messageId);
    const [record] = await queue.receive(1);
    assert.equal(
      record?.attributes.MessageDeduplicationId,
      createHash('sha256').update('push').digest('hex'),
    );
  });

  it("remembers a deduplication id after the message's delete and across a reopen, for 5 minutes", async (t) => {
    const dir = freshDir();
    const clock = manualClock();
    const options = { ...fifo, dir, clock, visibilityTimeoutSeconds: 30 };
    const first = await LocalQueue.open(options);
    const original = await first.send({ body: 'push', groupId: 'a', deduplicationId: 'delivery-1' });
    const [record] = await first.receive(1);
    await first.delete(record?.receiptHandle as string);
    await first.close();

    clock.advance(60_000);
    const reopened = await LocalQueue.open(options);
    assert.deepEqual(
      await reopened.send({ body: 'push', groupId: 'a', deduplicationId: 'delivery-1' }),
      original,
    );
    assert.deepEqual(await reopened.counts(), { visible: 0, inFlight: 0 });
    await reopened.close();

    clock.advance(4 * 60_000);
    const afterWindow = await openQueue(t, options);
    assert.deepEqual(
      readdirSync(join(dir, fifo.name)).filter((f) => f.endsWith('.json')),
      [],
      'the record expired',
    );
    const again = await afterWindow.send({ body: 'push', groupId: 'a', deduplicationId: 'delivery-1' });
    assert.notEqual(again.messageId, original.messageId);
  });
});

/** A poller over `queue` that records each invocation and stops after the test. */
function recordingPoller(
  t: TestContext,
  queue: LocalQueue,
  respond: (
    event: SQSEvent,
    call: number,
  ) => Promise<SQSBatchResponse | undefined> | SQSBatchResponse | undefined,
  options: Partial<QueuePollerOptions> = {},
) {
  const calls: { event: SQSEvent; context: Context }[] = [];
  const poller = new QueuePoller(
    queue,
    async (event, context) => {
      calls.push({ event, context });
      return respond(event, calls.length);
    },
    { batchSize: 10, functionName: 'kiln-git-push-consumer', idlePollMs: 10, ...options },
  );
  t.after(() => poller.stop());
  poller.start();
  return { poller, calls };
}

function recordBodies(call: { event: SQSEvent } | undefined): string[] {
  return call ? bodies(call.event.Records) : [];
}

describe('QueuePoller', () => {
  it('invokes the handler with batches of at most batchSize records, as an SQS event with a Lambda context', async (t) => {
    const queue = await openQueue(t, { clock: manualClock() });
    for (let i = 1; i <= 7; i++) await queue.send({ body: `push-${i}` });
    const { calls } = recordingPoller(t, queue, () => undefined, { batchSize: 5 });
    await eventually(() => calls.length === 2);

    assert.deepEqual(calls.map(recordBodies), [
      ['push-1', 'push-2', 'push-3', 'push-4', 'push-5'],
      ['push-6', 'push-7'],
    ]);
    const [{ event, context }] = calls as [{ event: SQSEvent; context: Context }];
    assert.equal(event.Records[0]?.eventSource, 'aws:sqs');
    assert.equal(event.Records[0]?.eventSourceARN, queue.arn);
    assert.equal(context.functionName, 'kiln-git-push-consumer');
    assert.ok(context.getRemainingTimeInMillis() > 29_000, 'the timeout defaults to the visibility timeout');
    assert.ok(context.getRemainingTimeInMillis() <= 30_000);
  });

  it('waits up to maxBatchingWindowMs to fill a batch', async (t) => {
    const queue = await openQueue(t, { clock: manualClock() });
    const { calls } = recordingPoller(t, queue, () => undefined, {
      batchSize: 3,
      maxBatchingWindowMs: 2_000,
    });
    await queue.send({ body: 'a' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await queue.send({ body: 'b' });
    await queue.send({ body: 'c' });
    await eventually(() => calls.length === 1);
    assert.deepEqual(recordBodies(calls[0]), ['a', 'b', 'c']);

    const unbatched = await openQueue(t, { name: 'kiln-unbatched', clock: manualClock() });
    const { calls: single } = recordingPoller(t, unbatched, () => undefined, { batchSize: 3 });
    await unbatched.send({ body: 'a' });
    await eventually(() => single.length === 1);
    await unbatched.send({ body: 'b' });
    await eventually(() => single.length === 2);
    assert.deepEqual(single.map(recordBodies), [['a'], ['b']], 'without a window, no waiting');
  });

  it('deletes every record when the handler reports no failure', async (t) => {
    const clock = manualClock();
    const queue = await openQueue(t, { clock });
    const responses: (SQSBatchResponse | undefined)[] = [
      undefined,
      { batchItemFailures: [] },
      {} as SQSBatchResponse,
      { batchItemFailures: null } as unknown as SQSBatchResponse,
    ];
    const { calls } = recordingPoller(t, queue, (_, call) => responses[call - 1]);
    for (const [index, response] of responses.entries()) {
      await queue.send({ body: `push-${index}` });
      await eventually(() => calls.length === index + 1);
      await eventually(async () => (await queue.counts()).inFlight === 0);
      assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 0 }, JSON.stringify(response));
    }
    clock.advance(60_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(calls.length, responses.length, 'nothing came back');
  });

  it('keeps only the records named in batchItemFailures: they come back alone after the visibility timeout', async (t) => {
    const clock = manualClock();
    const queue = await openQueue(t, { clock });
    for (const body of ['a', 'b', 'c']) await queue.send({ body });
    const { calls } = recordingPoller(t, queue, (event, call) =>
      call === 1
        ? { batchItemFailures: [{ itemIdentifier: event.Records[1]?.messageId as string }] }
        : undefined,
    );
    await eventually(() => calls.length === 1);
    await eventually(async () => (await queue.counts()).inFlight === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 1 }, 'a and c deleted, b in flight');

    clock.advance(30_000);
    await eventually(() => calls.length === 2);
    assert.deepEqual(recordBodies(calls[1]), ['b']);
    assert.equal(calls[1]?.event.Records[0]?.attributes.ApproximateReceiveCount, '2');
  });

  it('keeps the whole batch when the handler throws', async (t) => {
    const clock = manualClock();
    const queue = await openQueue(t, { clock });
    for (const body of ['a', 'b']) await queue.send({ body });
    const { calls } = recordingPoller(t, queue, (_, call) => {
      if (call === 1) throw new Error('GitHub is down');
      return undefined;
    });
    await eventually(() => calls.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 2 });
    clock.advance(30_000);
    await eventually(() => calls.length === 2);
    assert.deepEqual(recordBodies(calls[1]), ['a', 'b']);
  });

  it('keeps the whole batch when batchItemFailures names an unknown message, an empty or a null id, or is not a list', async (t) => {
    const invalid: unknown[] = [
      { batchItemFailures: [{ itemIdentifier: 'not-in-this-batch' }] },
      { batchItemFailures: [{ itemIdentifier: '' }] },
      { batchItemFailures: [{ itemIdentifier: null }] },
      { batchItemFailures: [{ messageId: 'bad key name' }] },
      { batchItemFailures: 'a' },
    ];
    for (const [index, response] of invalid.entries()) {
      const clock = manualClock();
      const queue = await openQueue(t, { name: `kiln-invalid-${index}`, clock });
      for (const body of ['a', 'b']) await queue.send({ body });
      const { poller, calls } = recordingPoller(t, queue, () => response as SQSBatchResponse);
      await eventually(() => calls.length === 1);
      await poller.stop();
      assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 2 }, JSON.stringify(response));
    }
  });

  it('keeps the whole batch when the handler outlives its timeout', async (t) => {
    const queue = await openQueue(t, { clock: manualClock() });
    await queue.send({ body: 'slow' });
    let finished = false;
    const { poller, calls } = recordingPoller(
      t,
      queue,
      async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        finished = true;
        return undefined;
      },
      { timeoutMs: 50 },
    );
    await eventually(() => calls.length === 1);
    await poller.stop();
    assert.equal(finished, false, 'stop waited for the timeout, not for the abandoned handler');
    assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 1 });
    await eventually(() => finished);
    assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 1 }, 'its late success deletes nothing');
  });

  it('moves a message that keeps failing to the dead-letter queue after maxReceiveCount deliveries', async (t) => {
    const clock = manualClock();
    const { queue, deadLetterQueue } = await withDeadLetterQueue(t, { clock, maxReceiveCount: 3 });
    await queue.send({ body: 'poison' });
    const { calls } = recordingPoller(t, queue, () => {
      throw new Error('cannot parse');
    });
    for (let delivery = 1; delivery <= 3; delivery++) {
      await eventually(() => calls.length === delivery);
      clock.advance(30_000);
    }
    await eventually(async () => (await deadLetterQueue.counts()).visible === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(calls.length, 3, 'delivered maxReceiveCount times, never again');
    assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 0 });
  });

  it('stops polling once stop resolves, after the batch in flight is done and deleted', async (t) => {
    const queue = await openQueue(t, { clock: manualClock() });
    await queue.send({ body: 'a' });
    let release: () => void = () => {};
    const { poller, calls } = recordingPoller(
      t,
      queue,
      () =>
        new Promise<undefined>((resolve) => {
          release = () => resolve(undefined);
        }),
    );
    await eventually(() => calls.length === 1);
    const stopped = poller.stop();
    let stoppedYet = false;
    void stopped.then(() => {
      stoppedYet = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(stoppedYet, false, 'stop waits for the handler');
    release();
    await stopped;
    assert.deepEqual(
      await queue.counts(),
      { visible: 0, inFlight: 0 },
      'the batch was deleted before stop resolved',
    );
    await queue.send({ body: 'b' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(calls.length, 1, 'no polling after stop');
  });

  it('refuses a mapping Lambda refuses', async (t) => {
    const queue = await openQueue(t);
    const fifoQueue = await openQueue(t, { name: 'kiln-git-pushes.fifo', fifo: true });
    const handler = async () => undefined;
    const options = { batchSize: 10, functionName: 'kiln-consumer' };
    assert.throws(() => new QueuePoller(queue, handler, { ...options, timeoutMs: 31_000 }), RangeError);
    assert.throws(() => new QueuePoller(queue, handler, { ...options, batchSize: 11 }), RangeError);
    new QueuePoller(queue, handler, { ...options, batchSize: 100, maxBatchingWindowMs: 1000 });
    assert.throws(() => new QueuePoller(fifoQueue, handler, { ...options, batchSize: 11 }), RangeError);
    assert.throws(
      () => new QueuePoller(fifoQueue, handler, { ...options, maxBatchingWindowMs: 100 }),
      RangeError,
    );
  });
});

describe('LocalQueue and QueuePoller across a crash', () => {
  const visibilitySeconds = 30;

  /** Spawns the crash fixture; its stderr is kept for the assertion messages. */
  function spawnChild(t: TestContext, args: string[]): { child: ChildProcess; stderr: () => string } {
    const child = spawn(process.execPath, [CRASH_CHILD, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    return { child, stderr: () => stderr };
  }

  function journalLines(path: string): string[][] {
    return existsSync(path)
      ? readFileSync(path, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(' '))
      : [];
  }

  it('loses nothing to a SIGKILL mid-batch: every message is processed to completion exactly once, the in-flight ones as soon as the queue is reopened', async (t) => {
    const dir = freshDir();
    const journal = join(dir, 'journal.txt');
    const open = async () => {
      const deadLetterQueue = await LocalQueue.open({
        name: 'kiln-crash-dlq',
        dir,
        visibilityTimeoutSeconds: 30,
      });
      const queue = await LocalQueue.open({
        name: 'kiln-crash',
        dir,
        visibilityTimeoutSeconds: visibilitySeconds,
        maxReceiveCount: 3,
        deadLetterQueue,
      });
      return { queue, deadLetterQueue };
    };
    const sent = new Set<string>();
    {
      const { queue, deadLetterQueue } = await open();
      for (let i = 1; i <= 12; i++) sent.add((await queue.send({ body: `job-${i}` })).messageId);
      await queue.close();
      await deadLetterQueue.close();
    }

    const spawnedAt = Date.now();
    const { child, stderr } = spawnChild(t, ['poll', dir, journal, String(visibilitySeconds)]);
    await eventually(() => journalLines(journal).some(([fact]) => fact === 'blocked'), 10_000).catch(
      (error) => {
        throw new Error(`${error.message}; child stderr: ${stderr()}`);
      },
    );
    child.kill('SIGKILL');
    await once(child, 'exit');

    const lines = journalLines(journal);
    const doneInChild = lines.filter(([fact]) => fact === 'done').map(([, id]) => id as string);
    const receivedInChild = new Map(
      lines.filter(([fact]) => fact === 'received').map(([, id, at]) => [id as string, Number(at)]),
    );
    const inFlightAtCrash = [...receivedInChild.keys()].filter((id) => !doneInChild.includes(id));
    assert.equal(doneInChild.length, 5, 'the first batch completed');
    assert.equal(inFlightAtCrash.length, 5, 'the second batch was in flight');

    const reopenedAt = Date.now();
    const { queue, deadLetterQueue } = await open();
    t.after(() => Promise.all([queue.close(), deadLetterQueue.close()]));
    const doneAfter: { id: string; receiveCount: string; firstReceivedAt: number; at: number }[] = [];
    const poller = new QueuePoller(
      queue,
      async (event) => {
        const at = Date.now();
        for (const record of event.Records) {
          doneAfter.push({
            id: record.messageId,
            receiveCount: record.attributes.ApproximateReceiveCount,
            firstReceivedAt: Number(record.attributes.ApproximateFirstReceiveTimestamp),
            at,
          });
        }
      },
      { batchSize: 5, functionName: 'kiln-crash-consumer', idlePollMs: 50 },
    );
    poller.start();
    await eventually(() => doneAfter.length >= sent.size - doneInChild.length, 10_000);
    await poller.stop();

    const processed = [...doneInChild, ...doneAfter.map(({ id }) => id)];
    assert.deepEqual(
      processed.toSorted(),
      [...sent].toSorted(),
      'every message processed to completion exactly once',
    );
    for (const id of inFlightAtCrash) {
      const redelivery = doneAfter.find((done) => done.id === id);
      assert.equal(redelivery?.receiveCount, '2', 'the receive count survived the crash');
      // Its first receive was the dead child's: the persisted time lies between the spawn and the journal line.
      const firstReceivedAt = redelivery?.firstReceivedAt as number;
      assert.ok(firstReceivedAt >= spawnedAt && firstReceivedAt <= (receivedInChild.get(id) as number));
      assert.ok(
        (redelivery?.at as number) < reopenedAt + visibilitySeconds * 1000,
        'redelivered without waiting out the visibility timeout of a consumer that died with its process',
      );
    }
    for (const done of doneAfter.filter(({ id }) => !inFlightAtCrash.includes(id))) {
      assert.equal(done.receiveCount, '1', 'never received before the crash');
    }
    assert.deepEqual(await queue.counts(), { visible: 0, inFlight: 0 });
    assert.deepEqual(await deadLetterQueue.counts(), { visible: 0, inFlight: 0 }, 'nothing went to the DLQ');
  });

  it('keeps every message whose send resolved when the sender is SIGKILLed mid-burst', async (t) => {
    const dir = freshDir();
    const journal = join(dir, 'journal.txt');
    const { child, stderr } = spawnChild(t, ['send', dir, journal]);
    await eventually(() => journalLines(journal).length >= 50, 10_000).catch((error) => {
      throw new Error(`${error.message}; child stderr: ${stderr()}`);
    });
    child.kill('SIGKILL');
    await once(child, 'exit');
    const acknowledged = new Map(journalLines(journal).map(([, id, body]) => [id as string, body as string]));

    const queue = await openQueue(t, { name: 'kiln-crash', dir, visibilityTimeoutSeconds: 30 });
    const stored = new Map<string, string>();
    for (let batch = await queue.receive(10); batch.length > 0; batch = await queue.receive(10)) {
      for (const record of batch) stored.set(record.messageId, record.body);
    }
    for (const [id, body] of acknowledged)
      assert.equal(stored.get(id), body, `acknowledged message ${id} kept`);
    assert.ok(stored.size - acknowledged.size <= 1, 'at most the send in progress is there unacknowledged');
  });
});
