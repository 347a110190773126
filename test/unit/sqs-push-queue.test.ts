import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { SendMessageCommand, SQSClient, SQSServiceException } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import {
  pushDeduplicationId,
  pushGroupId,
  pushMessage,
  SqsPushQueue,
} from '../../functions/adapters/aws/sqs-push-queue.ts';
import type { Push } from '../../functions/core/pushes.ts';
import { parsePushMessage } from '../../functions/shared/push-events.ts';

const sqs = mockClient(SQSClient);
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/123456789012/kiln-git-pushes.fifo';

beforeEach(() => sqs.reset());

function samplePush(overrides: Partial<Push> = {}): Push {
  return {
    provider: 'github',
    repository: 'acme/checkout',
    branch: 'main',
    change: 'updated',
    commit: '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
    committedAt: '2026-11-30T09:14:02.000Z',
    forced: false,
    pusher: 'octocat',
    deliveryId: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
    receivedAt: '2026-11-30T09:14:05.000Z',
    ...overrides,
  };
}

/** SQS's rule for MessageGroupId and MessageDeduplicationId. */
const SQS_ID = /^[\x21-\x7e]{1,128}$/;

describe('SqsPushQueue', () => {
  it('sends the push to the FIFO queue, grouped by branch and deduplicated by arrival', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm-1', SequenceNumber: '1' });
    const push = samplePush();

    await new SqsPushQueue({ client: new SQSClient({ region: 'eu-west-1' }), queueUrl: QUEUE_URL }).enqueue(
      push,
    );

    const calls = sqs.commandCalls(SendMessageCommand);
    assert.equal(calls.length, 1);
    assert.deepEqual(calls[0]?.args[0].input, {
      QueueUrl: QUEUE_URL,
      MessageBody: JSON.stringify({ push }),
      MessageGroupId: 'github:acme/checkout:main',
      MessageDeduplicationId: calls[0]?.args[0].input.MessageDeduplicationId,
    });
    assert.match(
      calls[0]?.args[0].input.MessageDeduplicationId ?? '',
      /^github:72d3162e-cc78-11e3-81ab-4c9367dc0958:[0-9a-f-]{36}$/,
    );
  });

  it('writes a body the push consumer reads back as the same push', () => {
    for (const push of [
      samplePush(),
      samplePush({
        provider: 'codecommit',
        repository: 'MyDemoRepo',
        pusher: 'arn:aws:iam::123456789012:user/x',
      }),
      samplePush({ branch: 'feature/café-🐛', change: 'deleted', forced: true }),
    ]) {
      assert.deepEqual(parsePushMessage(pushMessage(push).body), push);
    }
  });

  it('fails when SQS does, so that the webhook fails and GitHub can deliver again', async () => {
    sqs.on(SendMessageCommand).rejects(
      new SQSServiceException({
        name: 'QueueDoesNotExist',
        $fault: 'client',
        $metadata: {},
        message: 'The specified queue does not exist.',
      }),
    );
    const queue = new SqsPushQueue({ client: new SQSClient({ region: 'eu-west-1' }), queueUrl: QUEUE_URL });
    await assert.rejects(queue.enqueue(samplePush()), { name: 'QueueDoesNotExist' });
  });
});

describe('push message group ids', () => {
  it('are the provider, repository and branch when SQS takes them as they are', () => {
    assert.equal(pushGroupId(samplePush()), 'github:acme/checkout:main');
    assert.equal(
      pushGroupId(samplePush({ provider: 'codecommit', repository: 'MyDemoRepo', branch: 'release/1.2' })),
      'codecommit:MyDemoRepo:release/1.2',
    );
  });

  it('are the same for every push to a branch, and differ between branches, repositories and providers', () => {
    const ids = [
      pushGroupId(samplePush()),
      pushGroupId(samplePush({ deliveryId: 'other', commit: 'a'.repeat(40), change: 'deleted' })),
    ];
    assert.equal(ids[0], ids[1]);
    const others = [
      samplePush({ branch: 'main2' }),
      samplePush({ repository: 'acme/checkout2' }),
      samplePush({ provider: 'codecommit', repository: 'checkout' }),
    ].map(pushGroupId);
    assert.equal(new Set([ids[0], ...others]).size, 4);
  });

  it('are hashed, stably, when the branch is not ASCII or the id would be too long', () => {
    assert.equal(
      pushGroupId(samplePush({ branch: 'feature/café' })),
      'github#a00ef706befaebcfd9c7bb56119cf2df5f6ce09b5f1884a99cadac283efda225',
    );
    const long = 'x'.repeat(256);
    const hashed = [long, `${long.slice(1)}y`, 'feature/🐛', 'feature/🐜'].map((branch) =>
      pushGroupId(samplePush({ branch })),
    );
    for (const id of hashed) assert.match(id, /^github#[0-9a-f]{64}$/);
    assert.equal(new Set(hashed).size, 4);
    const edge = `${'b'.repeat(128 - 'github:acme/checkout:'.length)}`;
    assert.equal(pushGroupId(samplePush({ branch: edge })), `github:acme/checkout:${edge}`);
    assert.match(pushGroupId(samplePush({ branch: `${edge}b` })), /^github#/);
  });

  it('never confuse a repository holding ":" with another split of the same text', () => {
    const a = pushGroupId(samplePush({ provider: 'codecommit', repository: 'a:b', branch: 'c' }));
    const b = pushGroupId(samplePush({ provider: 'codecommit', repository: 'a', branch: 'b:c' }));
    assert.notEqual(a, b);
  });

  it('are SQS-safe and one per (provider, repository, branch), whatever the names (property)', () => {
    const name = fc.string({
      unit: fc.constantFrom('a', 'B', '0', '/', ':', '#', '.', '-', 'é', ' ', '\n', '🐛'),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(fc.constantFrom('github', 'codecommit' as const), name, name), {
          minLength: 2,
          maxLength: 20,
          selector: (key) => JSON.stringify(key),
        }),
        (keys) => {
          const ids = keys.map(([provider, repository, branch]) =>
            pushGroupId({ provider: provider as Push['provider'], repository, branch }),
          );
          for (const id of ids) assert.match(id, SQS_ID);
          assert.equal(new Set(ids).size, ids.length);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('push message deduplication ids', () => {
  it('are the provider, the delivery id and the arrival', () => {
    assert.equal(pushDeduplicationId(samplePush(), 'a1'), 'github:72d3162e-cc78-11e3-81ab-4c9367dc0958:a1');
  });

  it('keep a retried send of one arrival one message, and let every other arrival through, even in the same millisecond', () => {
    const first = pushMessage(samplePush(), 'arrival-1');
    assert.equal(
      pushMessage(samplePush(), 'arrival-1').deduplicationId,
      first.deduplicationId,
      'the same arrival',
    );
    // Two arrivals of one delivery, received in the same millisecond: two messages, each recorded.
    assert.notEqual(pushMessage(samplePush()).deduplicationId, pushMessage(samplePush()).deduplicationId);
  });

  it('are hashed, stably, when the delivery id is too long for SQS', () => {
    const id = pushDeduplicationId({ provider: 'codecommit', deliveryId: 'x'.repeat(128) }, 'a1');
    assert.match(id, /^codecommit#[0-9a-f]{64}$/);
    assert.equal(id, pushDeduplicationId({ provider: 'codecommit', deliveryId: 'x'.repeat(128) }, 'a1'));
  });

  it('differ between providers, deliveries and arrivals (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.tuple(
            fc.constantFrom('github', 'codecommit'),
            fc.stringMatching(/^[A-Za-z0-9._-]{1,128}$/),
            fc.uuid(),
          ),
          { minLength: 2, maxLength: 20, selector: (key) => key.join('\u0000') },
        ),
        (keys) => {
          const ids = keys.map(([provider, deliveryId, arrival]) =>
            pushDeduplicationId({ provider: provider as Push['provider'], deliveryId }, arrival),
          );
          for (const id of ids) assert.match(id, SQS_ID);
          assert.equal(new Set(ids).size, ids.length);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
