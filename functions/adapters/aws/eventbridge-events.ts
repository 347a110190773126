import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import { EVENT_SOURCE, type LifecycleEvent } from '../../core/lifecycle-events.ts';
import type { EventPublisher } from '../../core/ports/events.ts';

export interface EventBridgeEventsOptions {
  client: EventBridgeClient;
  /** Kiln's own bus (the CDK app creates it, with an archive for replay). */
  eventBusName: string;
  /** Where a publish that still fails after the retries is reported (the handler's logger). */
  reportFailure: (message: string, detail: { eventIds: string[]; reason: string }) => void;
}

/** PutEvents takes at most 10 entries per call. */
const MAX_ENTRIES = 10;
/** Entries that failed are sent again this many times (the SDK already retries whole calls). */
const ENTRY_ATTEMPTS = 3;

/**
 * Lifecycle events on Kiln's EventBridge bus. PutEvents can accept a call and still fail some of its
 * entries (FailedEntryCount): those are sent again; what still fails is reported, never thrown (see the
 * EventPublisher port: the change an event describes is recorded already).
 */
export class EventBridgeEvents implements EventPublisher {
  readonly #client: EventBridgeClient;
  readonly #eventBusName: string;
  readonly #reportFailure: EventBridgeEventsOptions['reportFailure'];

  constructor(options: EventBridgeEventsOptions) {
    this.#client = options.client;
    this.#eventBusName = options.eventBusName;
    this.#reportFailure = options.reportFailure;
  }

  async publish(events: readonly LifecycleEvent[]): Promise<void> {
    for (let start = 0; start < events.length; start += MAX_ENTRIES) {
      await this.#publishBatch(events.slice(start, start + MAX_ENTRIES));
    }
  }

  async #publishBatch(events: readonly LifecycleEvent[]): Promise<void> {
    let pending = events.map((event) => lifecycleEntry(event, this.#eventBusName));
    let reason = '';
    for (let attempt = 1; attempt <= ENTRY_ATTEMPTS && pending.length > 0; attempt++) {
      try {
        const { Entries = [] } = await this.#client.send(new PutEventsCommand({ Entries: pending }));
        const failed = pending.filter((_, index) => Entries[index]?.ErrorCode !== undefined);
        reason = Entries.find((entry) => entry.ErrorCode)?.ErrorMessage ?? reason;
        pending = failed;
      } catch (error) {
        reason = (error as Error).message;
      }
    }
    if (pending.length > 0) {
      this.#reportFailure('lifecycle events not published', {
        eventIds: pending.map(
          (entry) => (JSON.parse(entry.Detail ?? '{}') as { eventId?: string }).eventId ?? '?',
        ),
        reason,
      });
    }
  }
}

/** A lifecycle event as a PutEvents entry: the embedded bus takes the same entries. */
export function lifecycleEntry(
  event: LifecycleEvent,
  eventBusName: string,
): Required<Pick<PutEventsRequestEntry, 'EventBusName' | 'Source' | 'DetailType' | 'Detail' | 'Time'>> {
  return {
    EventBusName: eventBusName,
    Source: EVENT_SOURCE,
    DetailType: event.detailType,
    Detail: JSON.stringify(event.detail),
    Time: new Date(event.detail.at),
  };
}
