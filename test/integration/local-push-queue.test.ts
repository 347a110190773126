import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { pushMessage, SqsPushQueue } from '../../functions/adapters/aws/sqs-push-queue.ts';
import { LocalPushQueue } from '../../functions/adapters/local/local-push-queue.ts';
import { LocalQueue } from '../../functions/adapters/local/local-queue.ts';
import type { Push } from '../../functions/core/pushes.ts';
import { normalizeGitHubPush, parsePushMessage } from '../../functions/shared/push-events.ts';
import {
  DELIVERY_ID,
  githubBranchDeleted,
  githubBranchUpdated,
  RECEIVED_AT,
} from '../fixtures/push-events.ts';

const root = mkdtempSync(join(tmpdir(), 'kiln-push-queue-'));
after(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;

/** The push FIFO queue on disk, as embedded Kiln opens it; closed after the test. */
async function openPushQueue(t: TestContext, dir = join(root, `queues-${++folders}`)): Promise<LocalQueue> {
  const queue = await LocalQueue.open({
    name: 'kiln-git-pushes.fifo',
    fifo: true,
    dir,
    visibilityTimeoutSeconds: 30,
  });
  t.after(() => queue.close());
  return queue;
}

function pushOf(payload: unknown, deliveryId = DELIVERY_ID): Push {
  const result = normalizeGitHubPush(payload, deliveryId, RECEIVED_AT);
  assert.ok(!('ignored' in result));
  return result;
}

const update = () => pushOf(githubBranchUpdated());
const otherBranch = () =>
  pushOf(
    { ...githubBranchUpdated(), ref: 'refs/heads/feature/login' },
    '5c1b7e20-cc78-11e3-81ab-4c9367dc0958',
  );
const deletion = () => pushOf(githubBranchDeleted(), '9a0f6c44-cc78-11e3-81ab-4c9367dc0958');

describe('LocalPushQueue', () => {
  it('queues a push that the consumer reads back from the embedded queue as the same push', async (t) => {
    const queue = await openPushQueue(t);
    await new LocalPushQueue(queue).enqueue(update());

    const [record] = await queue.receive(10);
    assert.ok(record);
    assert.deepEqual(parsePushMessage(record.body), update());
    assert.equal(record.attributes.MessageGroupId, 'github:Codertocat/Hello-World:master');
    assert.match(
      record.attributes.MessageDeduplicationId ?? '',
      new RegExp(`^github:${DELIVERY_ID}:[0-9a-f-]{36}$`),
    );
  });

  it('sends exactly the message the SQS adapter sends', async (t) => {
    const sqs = mockClient(SQSClient);
    t.after(() => sqs.restore());
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1' });
    const queue = await openPushQueue(t);

    for (const push of [update(), deletion()]) {
      sqs.resetHistory();
      await new SqsPushQueue({ client: new SQSClient({ region: 'eu-west-1' }), queueUrl: 'q' }).enqueue(push);
      await new LocalPushQueue(queue).enqueue(push);
      const sent = sqs.commandCalls(SendMessageCommand)[0]?.args[0].input;
      const [record] = await queue.receive(1);
      assert.ok(record && sent);
      assert.deepEqual(
        { body: record.body, groupId: record.attributes.MessageGroupId },
        { body: sent.MessageBody, groupId: sent.MessageGroupId },
      );
      // Deduplicated by arrival, each enqueue being one: the same shape, a fresh id.
      const arrival = new RegExp(`^${push.provider}:${push.deliveryId}:[0-9a-f-]{36}$`);
      assert.match(record.attributes.MessageDeduplicationId ?? '', arrival);
      assert.match(sent.MessageDeduplicationId ?? '', arrival);
      await queue.delete(record.receiptHandle);
    }
  });

  it('keeps one message for one arrival sent twice (a retried send), and lets every other arrival through', async (t) => {
    const queue = await openPushQueue(t);
    const retried = pushMessage(update());
    await queue.send(retried);
    await queue.send(retried);
    assert.deepEqual(await queue.counts(), { visible: 1, inFlight: 0 });

    // The same delivery accepted twice, in the same millisecond (the same receivedAt): two arrivals, both
    // kept, each recorded by the consumer (the second as a duplicate). Keyed by time, one was lost.
    const pushes = new LocalPushQueue(queue);
    await Promise.all([pushes.enqueue(update()), pushes.enqueue(update())]);
    assert.deepEqual(await queue.counts(), { visible: 3, inFlight: 0 });
  });

  it('hands out a branch’s pushes one at a time, in order, and other branches’ alongside', async (t) => {
    const queue = await openPushQueue(t);
    const pushes = new LocalPushQueue(queue);
    const deleteMaster = pushOf(
      { ...githubBranchDeleted(), ref: 'refs/heads/master' },
      '1e2d3c4b-cc78-11e3-81ab-4c9367dc0958',
    );
    await pushes.enqueue(update());
    await pushes.enqueue(deleteMaster);
    await pushes.enqueue(otherBranch());

    const [first] = await queue.receive(1);
    assert.deepEqual(parsePushMessage((first as { body: string }).body), update());
    const whileMasterInFlight = await queue.receive(10);
    assert.deepEqual(
      whileMasterInFlight.map((record) => parsePushMessage(record.body)),
      [otherBranch()],
      'the second push to master waits while the first is in flight',
    );
    await queue.delete((first as { receiptHandle: string }).receiptHandle);
    const next = await queue.receive(10);
    assert.deepEqual(
      next.map((record) => parsePushMessage(record.body)),
      [deleteMaster],
    );
  });

  it('keeps a queued push across a restart', async (t) => {
    const dir = join(root, 'restart');
    const before = await LocalQueue.open({
      name: 'kiln-git-pushes.fifo',
      fifo: true,
      dir,
      visibilityTimeoutSeconds: 30,
    });
    await new LocalPushQueue(before).enqueue(update());
    await before.close();

    const reopened = await openPushQueue(t, dir);
    const [record] = await reopened.receive(1);
    assert.deepEqual(parsePushMessage((record as { body: string }).body), update());
  });

  it('refuses a standard queue, which keeps neither branch order nor deduplication', async (t) => {
    const standard = await LocalQueue.open({ name: 'kiln-git-pushes', visibilityTimeoutSeconds: 30 });
    t.after(() => standard.close());
    assert.throws(() => new LocalPushQueue(standard), /must be a FIFO queue/);
  });
});
