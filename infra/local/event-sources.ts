import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { localLambdaContext } from '../../functions/adapters/local/lambda-context.ts';
import {
  type BusEvent,
  LocalEventBus,
  type RuleTarget,
} from '../../functions/adapters/local/local-event-bus.ts';
import { LocalQueue } from '../../functions/adapters/local/local-queue.ts';
import { LocalScheduler, type SchedulerClock } from '../../functions/adapters/local/local-scheduler.ts';
import { type QueueHandler, QueuePoller } from '../../functions/adapters/local/queue-poller.ts';
import { EVENT_SOURCE } from '../../functions/core/lifecycle-events.ts';
import { EVENT_HANDLER_TIMEOUT_SECONDS, QUEUES } from '../../functions/manifest.ts';
import { loadEntryPoints } from './entry-points.ts';

/** The name of Kiln's own bus embedded; on AWS the CDK app names it `<stack>-events`. */
export const KILN_BUS = 'kiln';

type EventHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface EventSourcesOptions {
  /** Queues keep their messages under `<dataDir>/queues`. */
  dataDir: string;
  /** URLs that receive every lifecycle event as an HTTP POST (the embedded API destinations). */
  webhooks: readonly string[];
  log: (message: string, detail?: object) => void;
  /** The scheduler's clock (tests inject one). */
  clock?: SchedulerClock;
  /** Runs every schedule entry point (Kiln's upkeep) at this period instead of its manifest schedule. */
  upkeepPeriodSeconds?: number;
}

/**
 * Embedded EventBridge, SQS and EventBridge Scheduler, built from the manifest as the CDK app builds the
 * real ones: Kiln's bus (lifecycle events) and the account's default bus (AWS service events), each
 * with the rules of the manifest's `rule` entry points; every queue of QUEUES with its dead-letter
 * queue, on disk; and, once `startConsumers` is called, a poller per `queue` entry point and a schedule
 * per `schedule` entry point. Every entry point's handler is the same module Lambda runs.
 */
export class EventSources {
  readonly kilnBus: LocalEventBus;
  readonly defaultBus: LocalEventBus;
  readonly queues: ReadonlyMap<string, LocalQueue>;
  readonly #options: EventSourcesOptions;
  /** Every queue opened, sources before their dead-letter queues: the order they close in. */
  readonly #opened: readonly LocalQueue[];
  readonly #pollers: QueuePoller[] = [];
  #scheduler: LocalScheduler | undefined;

  private constructor(
    kilnBus: LocalEventBus,
    defaultBus: LocalEventBus,
    queues: ReadonlyMap<string, LocalQueue>,
    opened: readonly LocalQueue[],
    options: EventSourcesOptions,
  ) {
    this.kilnBus = kilnBus;
    this.defaultBus = defaultBus;
    this.queues = queues;
    this.#opened = opened;
    this.#options = options;
  }

  /** The buses with their rules and the queues, ready to take events and messages; nothing consumes yet. */
  static async open(options: EventSourcesOptions): Promise<EventSources> {
    const { log } = options;
    const kilnBus = new LocalEventBus({ name: KILN_BUS, log });
    const defaultBus = new LocalEventBus({ name: 'default', log });
    const queues = new Map<string, LocalQueue>();
    const deadLetterQueues: LocalQueue[] = [];
    const dir = join(options.dataDir, 'queues');
    try {
      for (const definition of QUEUES) {
        const suffix = definition.fifo ? '.fifo' : '';
        const deadLetterQueue = await LocalQueue.open({
          name: `${definition.name}-dlq${suffix}`,
          dir,
          visibilityTimeoutSeconds: definition.visibilityTimeoutSeconds,
          fifo: definition.fifo,
        });
        deadLetterQueues.push(deadLetterQueue);
        queues.set(
          definition.name,
          await LocalQueue.open({
            name: `${definition.name}${suffix}`,
            dir,
            visibilityTimeoutSeconds: definition.visibilityTimeoutSeconds,
            maxReceiveCount: definition.maxReceiveCount,
            deadLetterQueue,
            fifo: definition.fifo,
          }),
        );
      }
    } catch (error) {
      for (const queue of [...queues.values(), ...deadLetterQueues]) await queue.close();
      throw error;
    }
    const sources = new EventSources(
      kilnBus,
      defaultBus,
      queues,
      [...queues.values(), ...deadLetterQueues],
      options,
    );
    await sources.#addRules();
    return sources;
  }

  /** The queue QUEUES defines under `name` (its dead-letter queue is not reachable by name). */
  queue(name: string): LocalQueue {
    const queue = this.queues.get(name);
    if (!queue) throw new Error(`no queue ${name}: QUEUES does not define it`);
    return queue;
  }

  /** Starts delivering: a poller per queue entry point, the schedules of schedule entry points. */
  async startConsumers(): Promise<void> {
    for (const { entry, handler } of await loadEntryPoints<QueueHandler>('queue')) {
      if (entry.trigger.type !== 'queue') continue;
      const queue = this.queue(entry.trigger.queue);
      const poller = new QueuePoller(queue, handler, {
        batchSize: entry.trigger.batchSize,
        ...(entry.trigger.maxBatchingWindowSeconds
          ? { maxBatchingWindowMs: entry.trigger.maxBatchingWindowSeconds * 1000 }
          : {}),
        functionName: `kiln-${entry.name}`,
        timeoutMs: Math.min(EVENT_HANDLER_TIMEOUT_SECONDS, queue.visibilityTimeoutSeconds) * 1000,
        log: this.#options.log,
      });
      poller.start();
      this.#pollers.push(poller);
    }
    const scheduler = new LocalScheduler({
      log: this.#options.log,
      ...(this.#options.clock ? { clock: this.#options.clock } : {}),
    });
    for (const { entry, handler } of await loadEntryPoints<EventHandler>('schedule')) {
      if (entry.trigger.type !== 'schedule') continue;
      scheduler.add({
        name: entry.trigger.schedule,
        expression: entry.trigger.expression,
        ...(entry.trigger.timezone ? { timezone: entry.trigger.timezone } : {}),
        ...(this.#options.upkeepPeriodSeconds ? { periodMs: this.#options.upkeepPeriodSeconds * 1000 } : {}),
        // The input the CDK schedule gives the function (infra/constructs/events.ts), context attributes substituted.
        input: {
          schedule: entry.trigger.schedule,
          scheduledTime: '<aws.scheduler.scheduled-time>',
          executionId: '<aws.scheduler.execution-id>',
        },
        target: (input) => handler(input, invocationContext(entry.name)),
      });
    }
    scheduler.start();
    this.#scheduler = scheduler;
  }

  /** Stops consuming, lets deliveries in flight finish, closes the queues (messages stay on disk). */
  async close(): Promise<void> {
    await Promise.all(this.#pollers.map((poller) => poller.stop()));
    await this.#scheduler?.stop();
    await this.kilnBus.close();
    await this.defaultBus.close();
    for (const queue of this.#opened) await queue.close();
  }

  async #addRules(): Promise<void> {
    for (const { entry, handler } of await loadEntryPoints<EventHandler>('rule')) {
      if (entry.trigger.type !== 'rule') continue;
      const target: RuleTarget = {
        kind: 'function',
        name: entry.name,
        invoke: (event: BusEvent) => handler(event, invocationContext(entry.name)),
      };
      const bus = entry.trigger.bus === 'kiln' ? this.kilnBus : this.defaultBus;
      bus.addRule({ name: entry.trigger.rule, pattern: entry.trigger.pattern, targets: [target] });
    }
    if (this.#options.webhooks.length > 0) {
      this.kilnBus.addRule({
        name: 'webhooks',
        pattern: { source: [EVENT_SOURCE] },
        targets: this.#options.webhooks.map((url) => ({ kind: 'http' as const, url })),
      });
    }
  }
}

function invocationContext(name: string): Context {
  return localLambdaContext(`kiln-${name}`, EVENT_HANDLER_TIMEOUT_SECONDS * 1000);
}
