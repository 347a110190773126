import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type BusEvent,
  LocalEventBus,
  type LocalEventBusOptions,
  type PutEventsRequestEntry,
  PutEventsValidationError,
} from '../../functions/adapters/local/local-event-bus.ts';
import type { EventPattern } from '../../functions/event-patterns.ts';
import { InvalidEventPatternError } from '../../functions/event-patterns.ts';
import { codeCommitBranchCreated } from '../fixtures/eventbridge-events.ts';

const checkoutFailures: EventPattern = {
  source: ['kiln'],
  'detail-type': ['Deployment Status Changed'],
  detail: { team: ['checkout'], status: ['failed'] },
};
const allKiln: EventPattern = { source: ['kiln'] };
const branchPushes: EventPattern = {
  source: ['aws.codecommit'],
  'detail-type': ['CodeCommit Repository State Change'],
  detail: {
    event: ['referenceCreated', 'referenceUpdated', 'referenceDeleted'],
    referenceType: ['branch'],
  },
};

function statusChanged(detail: Record<string, unknown>, extra: Partial<PutEventsRequestEntry> = {}) {
  return {
    Source: 'kiln',
    DetailType: 'Deployment Status Changed',
    Detail: JSON.stringify(detail),
    EventBusName: 'kiln',
    ...extra,
  };
}

const buses: LocalEventBus[] = [];
/** A bus whose retries take milliseconds, recording what it logs. */
function newBus(options: Partial<LocalEventBusOptions> = {}) {
  const logs: { message: string; detail?: object }[] = [];
  const bus = new LocalEventBus({
    name: 'kiln',
    retry: { firstDelayMs: 2, maxDelayMs: 4 },
    log: (message, detail) => logs.push({ message, detail }),
    ...options,
  });
  buses.push(bus);
  return { bus, logs };
}

/** A function target recording what it receives; `fail(n)` makes its next n invocations throw. */
function recordingFunction(name: string, handle: (event: BusEvent) => Promise<void> = async () => {}) {
  const received: BusEvent[] = [];
  let failures = 0;
  return {
    received,
    fail(times: number) {
      failures = times;
    },
    target: {
      kind: 'function' as const,
      name,
      invoke: async (event: BusEvent) => {
        received.push(event);
        if (failures > 0) {
          failures--;
          throw new Error(`${name} failed`);
        }
        await handle(event);
      },
    },
  };
}

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});

describe('the embedded event bus', () => {
  it('delivers a matching event in the real EventBridge envelope', async () => {
    const { bus } = newBus();
    const notify = recordingFunction('NotifyTeam');
    bus.addRule({ name: 'checkout-failures', pattern: checkoutFailures, targets: [notify.target] });

    const time = new Date('2026-11-02T09:15:00.750Z');
    const result = await bus.putEvents([
      statusChanged(
        { team: 'checkout', status: 'failed' },
        { Time: time, Resources: ['arn:kiln:env/checkout'] },
      ),
    ]);
    await bus.waitForIdle(2000);

    assert.equal(result.FailedEntryCount, 0);
    const [event] = notify.received;
    assert.deepEqual(event, {
      version: '0',
      id: result.Entries[0]?.EventId,
      'detail-type': 'Deployment Status Changed',
      source: 'kiln',
      account: '000000000000',
      time: '2026-11-02T09:15:00Z',
      region: 'local',
      resources: ['arn:kiln:env/checkout'],
      detail: { team: 'checkout', status: 'failed' },
    });
    assert.match(event?.id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(bus.arn, 'arn:aws:events:local:000000000000:event-bus/kiln');
  });

  it('answers PutEvents before any target runs', async () => {
    const { bus } = newBus();
    const notify = recordingFunction('NotifyTeam');
    bus.addRule({ name: 'all', pattern: allKiln, targets: [notify.target] });

    await bus.putEvents([statusChanged({ team: 'checkout', status: 'failed' })]);
    assert.equal(notify.received.length, 0);
    await bus.waitForIdle(2000);
    assert.equal(notify.received.length, 1);
  });

  it('delivers each event to the targets of every rule it matches, and only those', async () => {
    const { bus } = newBus();
    const notify = recordingFunction('NotifyTeam');
    const audit = recordingFunction('RecordAudit');
    const messages: { body: string; groupId?: string }[] = [];
    const queue = {
      kind: 'queue' as const,
      name: 'kiln-alerts.fifo',
      messageGroupId: 'checkout',
      send: async (body: string, groupId?: string) => {
        messages.push({ body, groupId });
      },
    };
    bus.addRule({ name: 'checkout-failures', pattern: checkoutFailures, targets: [notify.target, queue] });
    bus.addRule({ name: 'everything-kiln', pattern: allKiln, targets: [audit.target] });

    const result = await bus.putEvents([
      statusChanged({ team: 'checkout', status: 'failed' }),
      statusChanged({ team: 'payments', status: 'failed' }),
      statusChanged({ team: 'checkout', status: 'failed' }, { Source: 'kiln.other' }),
    ]);
    await bus.waitForIdle(2000);

    const [checkout, payments] = result.Entries.map((entry) => entry.EventId);
    assert.deepEqual(
      notify.received.map((event) => event.id),
      [checkout],
    );
    assert.deepEqual(
      audit.received.map((event) => event.id),
      [checkout, payments],
    );
    // EventBridge → SQS: the message body is the whole event, as JSON; the FIFO group is the target's.
    assert.equal(messages.length, 1);
    assert.equal(messages[0]?.groupId, 'checkout');
    assert.deepEqual(JSON.parse(messages[0]?.body ?? ''), notify.received[0]);
  });

  it('gives every target its own copy of the event', async () => {
    const { bus } = newBus();
    const mutating = recordingFunction('Mutating', async (event) => {
      (event.detail as Record<string, unknown>).status = 'changed';
    });
    const reading = recordingFunction('Reading');
    bus.addRule({ name: 'all', pattern: allKiln, targets: [mutating.target, reading.target] });
    await bus.putEvents([statusChanged({ team: 'checkout', status: 'failed' })]);
    await bus.waitForIdle(2000);
    assert.deepEqual(reading.received[0]?.detail, { team: 'checkout', status: 'failed' });
  });

  it('fails invalid entries one by one, as PutEvents does, and delivers the valid ones', async () => {
    const { bus } = newBus();
    const audit = recordingFunction('RecordAudit');
    bus.addRule({ name: 'all', pattern: allKiln, targets: [audit.target] });

    const result = await bus.putEvents([
      statusChanged({ team: 'checkout', status: 'failed' }),
      { ...statusChanged({}), Detail: '{"team": "checkout",' },
      { ...statusChanged({}), Detail: '["not", "an", "object"]' },
      { ...statusChanged({}), Source: 'aws.codecommit' },
      { ...statusChanged({}), DetailType: '' },
      { ...statusChanged({}), EventBusName: 'someone-elses-bus' },
      { ...statusChanged({}), EventBusName: undefined },
      { ...statusChanged({ team: 'payments' }), EventBusName: bus.arn },
    ]);
    await bus.waitForIdle(2000);

    assert.equal(result.FailedEntryCount, 6);
    assert.deepEqual(
      result.Entries.map((entry) => entry.ErrorCode ?? 'ok'),
      [
        'ok',
        'MalformedDetail',
        'MalformedDetail',
        'NotAuthorizedForSourceException',
        'InvalidArgument',
        'InvalidArgument',
        'InvalidArgument',
        'ok',
      ],
    );
    assert.ok(
      result.Entries.every((entry) => (entry.EventId === undefined) === (entry.ErrorCode !== undefined)),
    );
    assert.match(result.Entries[5]?.ErrorMessage ?? '', /no event bus "someone-elses-bus"/);
    assert.deepEqual(
      audit.received.map((event) => event.id),
      [result.Entries[0]?.EventId, result.Entries[7]?.EventId],
    );
  });

  it('refuses a request with no entries, more than 10, or over 256 KB', async () => {
    const { bus } = newBus();
    await assert.rejects(bus.putEvents([]), PutEventsValidationError);
    const eleven = Array.from({ length: 11 }, () => statusChanged({ team: 'checkout' }));
    await assert.rejects(bus.putEvents(eleven), PutEventsValidationError);
    const large = statusChanged({ blob: 'x'.repeat(256 * 1024) });
    await assert.rejects(bus.putEvents([large]), /at most 262144/);
  });

  it('retries a failing function target with backoff until it succeeds', async () => {
    const { bus, logs } = newBus();
    const notify = recordingFunction('NotifyTeam');
    notify.fail(2);
    bus.addRule({ name: 'all', pattern: allKiln, targets: [notify.target] });

    const result = await bus.putEvents([statusChanged({ team: 'checkout', status: 'failed' })]);
    await bus.waitForIdle(2000);

    assert.equal(notify.received.length, 3);
    assert.ok(notify.received.every((event) => event.id === result.Entries[0]?.EventId));
    assert.equal(logs.filter(({ message }) => /retrying/.test(message)).length, 2);
    assert.ok(!logs.some(({ message }) => /undeliverable/.test(message)));
  });

  it('logs an event as undeliverable once the retries are spent', async () => {
    const { bus, logs } = newBus({ retry: { maxAttempts: 3, firstDelayMs: 1, maxDelayMs: 2 } });
    const notify = recordingFunction('NotifyTeam');
    notify.fail(Number.POSITIVE_INFINITY);
    bus.addRule({ name: 'all', pattern: allKiln, targets: [notify.target] });

    const result = await bus.putEvents([statusChanged({ team: 'checkout', status: 'failed' })]);
    await bus.waitForIdle(2000);

    assert.equal(notify.received.length, 3);
    const undeliverable = logs.filter(({ message }) => /undeliverable/.test(message));
    assert.equal(undeliverable.length, 1);
    assert.deepEqual(undeliverable[0]?.detail, {
      bus: 'kiln',
      rule: 'all',
      target: 'function NotifyTeam',
      eventId: result.Entries[0]?.EventId,
      attempts: 3,
      error: 'NotifyTeam failed',
    });
  });

  it('delivers to each target in the order the events were put, a retried event holding back the later ones', async () => {
    const { bus } = newBus();
    // Handlers that take a random time: without ordering, later events would overtake earlier ones.
    const slow = recordingFunction('Slow', () => sleep(Math.floor(Math.random() * 5)));
    slow.fail(1);
    bus.addRule({ name: 'all', pattern: allKiln, targets: [slow.target] });

    const ids: (string | undefined)[] = [];
    for (let batch = 0; batch < 4; batch++) {
      const entries = Array.from({ length: 5 }, (_, index) => statusChanged({ sequence: batch * 5 + index }));
      const result = await bus.putEvents(entries);
      ids.push(...result.Entries.map((entry) => entry.EventId));
    }
    await bus.waitForIdle(5000);

    const delivered = slow.received.map((event) => (event.detail as { sequence: number }).sequence);
    // The first event failed once and was delivered again before any later one.
    assert.deepEqual(delivered, [0, ...Array.from({ length: 20 }, (_, index) => index)]);
    assert.deepEqual(
      slow.received.slice(1).map((event) => event.id),
      ids,
    );
  });

  it('posts the event to an API destination and retries 5xx, but not other 4xx answers', async () => {
    const requests: { headers: IncomingHttpHeaders; body: string; method?: string }[] = [];
    const answers = [503, 200, 400];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk) => {
        body += chunk;
      });
      request.on('end', () => {
        requests.push({ headers: request.headers, body, method: request.method });
        response.statusCode = answers.shift() ?? 500;
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const { bus, logs } = newBus();
      const url = `http://127.0.0.1:${port}/hooks/kiln`;
      bus.addRule({
        name: 'to-chat',
        pattern: allKiln,
        targets: [{ kind: 'http', url, headers: { 'x-kiln-token': 'local-only' } }],
      });

      const first = await bus.putEvents([statusChanged({ team: 'checkout', status: 'failed' })]);
      await bus.waitForIdle(5000);
      assert.equal(requests.length, 2, 'the 503 is retried');
      assert.equal(requests[1]?.method, 'POST');
      assert.equal(requests[1]?.headers['x-kiln-token'], 'local-only');
      assert.match(requests[1]?.headers['content-type'] ?? '', /^application\/json/);
      assert.equal(JSON.parse(requests[1]?.body ?? '').id, first.Entries[0]?.EventId);

      await bus.putEvents([statusChanged({ team: 'checkout', status: 'failed' })]);
      await bus.waitForIdle(5000);
      assert.equal(requests.length, 3, 'the 400 is not retried');
      assert.ok(logs.some(({ message }) => /undeliverable .*answered 400/.test(message)));
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('delivers what an AWS service emits, which PutEvents refuses to take', async () => {
    const { bus } = newBus({ name: 'default' });
    const coalesce = recordingFunction('CoalescePushes');
    bus.addRule({ name: 'branch-pushes', pattern: branchPushes, targets: [coalesce.target] });

    const { source, detail, resources } = codeCommitBranchCreated;
    const id = bus.emitServiceEvent({
      source,
      detailType: codeCommitBranchCreated['detail-type'],
      detail,
      resources,
    });
    const refused = await bus.putEvents([
      { Source: source, DetailType: 'CodeCommit Repository State Change', Detail: JSON.stringify(detail) },
    ]);
    await bus.waitForIdle(2000);

    assert.equal(refused.Entries[0]?.ErrorCode, 'NotAuthorizedForSourceException');
    assert.deepEqual(
      coalesce.received.map((event) => [event.id, event.detail]),
      [[id, detail]],
    );
    assert.throws(
      () => bus.emitServiceEvent({ source: 'kiln', detailType: 'x', detail: {} }),
      /starts with "aws\."/,
    );
  });

  it('refuses a rule whose pattern EventBridge would refuse, a taken name, or more than 5 targets', () => {
    const { bus } = newBus();
    const target = recordingFunction('NotifyTeam').target;
    assert.throws(
      () =>
        bus.addRule({
          name: 'bad',
          pattern: { source: 'kiln' } as unknown as EventPattern,
          targets: [target],
        }),
      (error: unknown) =>
        error instanceof InvalidEventPatternError &&
        /source: must be an object or an array/.test(error.message),
    );
    assert.throws(
      () =>
        bus.addRule({
          name: 'bad',
          pattern: { detail: { n: [{ numeric: ['>', 'five'] }] } },
          targets: [target],
        }),
      InvalidEventPatternError,
    );
    bus.addRule({ name: 'taken', pattern: allKiln, targets: [target] });
    assert.throws(
      () => bus.addRule({ name: 'taken', pattern: allKiln, targets: [target] }),
      /already exists/,
    );
    assert.throws(() => bus.addRule({ name: 'has space', pattern: allKiln, targets: [] }), /must be 1 to 64/);
    assert.throws(
      () => bus.addRule({ name: 'six', pattern: allKiln, targets: Array.from({ length: 6 }, () => target) }),
      /EventBridge allows 5/,
    );
  });

  it('stops matching a removed rule', async () => {
    const { bus } = newBus();
    const notify = recordingFunction('NotifyTeam');
    bus.addRule({ name: 'all', pattern: allKiln, targets: [notify.target] });
    bus.removeRule('all');
    await bus.putEvents([statusChanged({ team: 'checkout' })]);
    await bus.waitForIdle(2000);
    assert.equal(notify.received.length, 0);
  });

  it('closes once the deliveries under way are done, then refuses events', async () => {
    const { bus } = newBus();
    let finished = false;
    const slow = recordingFunction('Slow', async () => {
      await sleep(30);
      finished = true;
    });
    bus.addRule({ name: 'all', pattern: allKiln, targets: [slow.target] });
    await bus.putEvents([statusChanged({ team: 'checkout' })]);
    await bus.close();
    assert.equal(finished, true);
    await assert.rejects(bus.putEvents([statusChanged({ team: 'checkout' })]), /closed/);
  });

  it('says which deliveries are still under way when waiting times out', async () => {
    const { bus } = newBus();
    const { promise: release, resolve } = Promise.withResolvers<void>();
    const stuck = recordingFunction('Stuck', () => release);
    bus.addRule({ name: 'all', pattern: allKiln, targets: [stuck.target] });
    await bus.putEvents([statusChanged({ team: 'checkout' })]);
    await assert.rejects(bus.waitForIdle(50), /1 deliveries still under way after 50 ms/);
    resolve();
    await bus.waitForIdle(2000);
  });
});
