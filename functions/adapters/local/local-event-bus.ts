/**
 * The embedded EventBridge event bus: PutEvents builds the real event envelope, rules match it with
 * EventBridge's pattern semantics (./event-patterns.ts), and each matching rule's targets receive it
 * asynchronously, with retries, as EventBridge delivers.
 *
 * What EventBridge does, and where the embedded bus differs:
 * - Delivery is asynchronous: PutEvents answers once the events are accepted, before any target runs.
 * - A failed delivery is retried "for 24 hours and up to 185 times with an exponential back off and
 *   jitter"; after that the event is dropped, or sent to the target's dead-letter queue
 *   (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html). Embedded,
 *   the same policy is shortened (EMBEDDED_DELIVERY_RETRY: a few attempts within a second) and an
 *   event that exhausts it is logged as undeliverable.
 * - A function target is invoked asynchronously (InvocationType Event). On AWS, once Lambda has queued
 *   the event, a function error is retried by Lambda itself, two more times a minute and two minutes
 *   apart (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html), and the
 *   185/24 h policy covers failures to hand the event to Lambda. Embedded, both collapse into the one
 *   shortened policy: a handler that throws is retried, then the event is logged as undeliverable.
 * - EventBridge guarantees no order. The embedded bus delivers to each target one event at a time, in
 *   the order the events were put (one of the orders AWS may produce); a retried event holds the
 *   target's later events back, as a FIFO subscriber is held by a failing event.
 * - Every target receives its own copy of the event, as if it had crossed the network.
 */
import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { EventBridgeEvent } from 'aws-lambda';
import {
  checkEventPattern,
  type EventPattern,
  InvalidEventPatternError,
  matchesEventPattern,
} from '../../event-patterns.ts';
import { within } from './within.ts';

/** An event as EventBridge delivers it to targets. */
export type BusEvent = EventBridgeEvent<string, unknown>;

/** A Lambda function, invoked asynchronously; a rejection is a function error (retried). */
export interface FunctionTarget {
  kind: 'function';
  name: string;
  invoke: (event: BusEvent) => Promise<unknown>;
}

/**
 * An SQS queue: the message body is the event's JSON, as EventBridge sends it. `messageGroupId` is the
 * rule target's SqsParameters.MessageGroupId, which a FIFO queue requires.
 */
export interface QueueTarget {
  kind: 'queue';
  /** For logs: the queue's name. */
  name?: string;
  send: (body: string, groupId?: string) => Promise<unknown>;
  messageGroupId?: string;
}

/**
 * An API destination: an HTTP POST of the event's JSON. EventBridge gives the endpoint 5 seconds to
 * answer, retries timeouts, 401, 407, 409, 429 and 5xx answers, and does not retry other answers.
 */
export interface HttpTarget {
  kind: 'http';
  url: string;
  headers?: Record<string, string>;
}

export type RuleTarget = FunctionTarget | QueueTarget | HttpTarget;

export interface RuleDefinition {
  /** 1 to 64 of `.-_A-Za-z0-9`, unique on the bus. */
  name: string;
  pattern: EventPattern;
  /** At most 5, as EventBridge allows per rule. */
  targets: RuleTarget[];
}

/** A PutEvents request entry, as the SDK's PutEventsRequestEntry names its fields. */
export interface PutEventsRequestEntry {
  Source: string;
  DetailType: string;
  /** A JSON object, as text. */
  Detail: string;
  Resources?: string[];
  /** Defaults to the time of the call. */
  Time?: Date;
  /** The bus's name or ARN; without it EventBridge puts the event on the account's `default` bus. */
  EventBusName?: string;
}

export interface PutEventsResultEntry {
  EventId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

export interface PutEventsResult {
  FailedEntryCount: number;
  /** One per request entry, in the same order. */
  Entries: PutEventsResultEntry[];
}

/** An event as an AWS service emits it (source `aws.*`), which PutEvents refuses to take from callers. */
export interface ServiceEvent {
  source: string;
  detailType: string;
  detail: Record<string, unknown>;
  resources?: string[];
  time?: Date;
}

export interface DeliveryRetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** The backoff window before the second attempt; it doubles for each further one, up to maxDelayMs. */
  firstDelayMs: number;
  maxDelayMs: number;
}

/** EventBridge's 185 retries over 24 hours, shortened so that a test or a laptop is not kept waiting. */
export const EMBEDDED_DELIVERY_RETRY: DeliveryRetryPolicy = {
  maxAttempts: 4,
  firstDelayMs: 100,
  maxDelayMs: 1000,
};

export interface LocalEventBusOptions {
  name: string;
  account?: string;
  region?: string;
  log?: (message: string, detail?: object) => void;
  retry?: Partial<DeliveryRetryPolicy>;
  /** How long an API destination may take to answer; EventBridge's limit is 5 s. */
  httpTimeoutMs?: number;
  /** The backoff's jitter source (full jitter: a uniformly random part of each window). */
  random?: () => number;
}

/** The whole PutEvents request is refused (AWS answers 400 ValidationException): no entry is taken. */
export class PutEventsValidationError extends Error {
  override readonly name = 'PutEventsValidationError';
}

/** EventBridge's PutEvents quota: entries per request. */
const MAX_ENTRIES = 10;
/** EventBridge's limit on a request's entries, counted as its documentation counts them. */
const MAX_REQUEST_BYTES = 256 * 1024;
const MAX_TARGETS_PER_RULE = 5;
const RULE_NAME = /^[.\-_A-Za-z0-9]{1,64}$/;
const API_DESTINATION_TIMEOUT_MS = 5000;
/** Answers an API destination retries (with timeouts and network errors); every other non-2xx answer is final. */
const RETRIED_HTTP_STATUSES = new Set([401, 407, 409, 429]);

export class LocalEventBus {
  readonly name: string;
  readonly account: string;
  readonly region: string;
  readonly #log: (message: string, detail?: object) => void;
  readonly #retry: DeliveryRetryPolicy;
  readonly #httpTimeoutMs: number;
  readonly #random: () => number;
  readonly #rules = new Map<string, Rule>();
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;

  constructor(options: LocalEventBusOptions) {
    this.name = options.name;
    this.account = options.account ?? '000000000000';
    this.region = options.region ?? 'local';
    this.#log = options.log ?? (() => {});
    this.#retry = { ...EMBEDDED_DELIVERY_RETRY, ...options.retry };
    this.#httpTimeoutMs = options.httpTimeoutMs ?? API_DESTINATION_TIMEOUT_MS;
    this.#random = options.random ?? Math.random;
  }

  get arn(): string {
    return `arn:aws:events:${this.region}:${this.account}:event-bus/${this.name}`;
  }

  /**
   * Adds a rule. Throws InvalidEventPatternError for a pattern EventBridge would refuse or the embedded
   * matcher cannot treat as EventBridge does, and Error for a bad or taken name or too many targets.
   */
  addRule(rule: RuleDefinition): void {
    this.#refuseWhenClosed();
    if (!RULE_NAME.test(rule.name)) {
      throw new Error(`Rule name "${rule.name}" must be 1 to 64 of the characters .-_A-Za-z0-9`);
    }
    if (this.#rules.has(rule.name)) throw new Error(`Rule "${rule.name}" already exists on bus ${this.name}`);
    if (rule.targets.length > MAX_TARGETS_PER_RULE) {
      throw new Error(
        `Rule "${rule.name}" has ${rule.targets.length} targets; EventBridge allows ${MAX_TARGETS_PER_RULE}`,
      );
    }
    const problems = checkEventPattern(rule.pattern);
    if (problems.length > 0) throw new InvalidEventPatternError(problems);
    this.#rules.set(rule.name, {
      name: rule.name,
      pattern: rule.pattern,
      lanes: rule.targets.map((target) => new TargetLane(target)),
    });
  }

  /** Removes a rule; its deliveries already under way go on. */
  removeRule(name: string): void {
    this.#rules.delete(name);
  }

  /**
   * PutEvents: each valid entry becomes an event and is accepted (its EventId returned); an invalid
   * entry fails alone with PutEvents' ErrorCode. Resolves once the events are accepted: deliveries run
   * after. Throws PutEventsValidationError when the request itself is refused (no or too many entries,
   * too large).
   */
  async putEvents(entries: PutEventsRequestEntry[]): Promise<PutEventsResult> {
    this.#refuseWhenClosed();
    if (entries.length === 0 || entries.length > MAX_ENTRIES) {
      throw new PutEventsValidationError(
        `PutEvents takes 1 to ${MAX_ENTRIES} entries, not ${entries.length}`,
      );
    }
    const size = entries.reduce((total, entry) => total + entrySize(entry), 0);
    if (size > MAX_REQUEST_BYTES) {
      throw new PutEventsValidationError(
        `The entries total ${size} bytes; PutEvents takes at most ${MAX_REQUEST_BYTES}`,
      );
    }
    const now = new Date();
    const results = entries.map((entry) => this.#accept(entry, now));
    return {
      FailedEntryCount: results.filter((result) => result.ErrorCode !== undefined).length,
      Entries: results,
    };
  }

  /**
   * Puts an event as an AWS service does (CodeCommit's "CodeCommit Repository State Change", ...): the
   * embedded stand-ins for AWS services use it, since PutEvents refuses `aws.*` sources. On AWS such
   * events arrive on the account's `default` bus. Returns the event's id.
   */
  emitServiceEvent(event: ServiceEvent): string {
    this.#refuseWhenClosed();
    if (!event.source.startsWith('aws.')) {
      throw new Error(`A service event's source starts with "aws.", not "${event.source}": use putEvents`);
    }
    const envelope = this.#envelope(
      event.source,
      event.detailType,
      event.detail,
      event.resources,
      event.time,
    );
    this.#route(envelope);
    return envelope.id;
  }

  /** Resolves once no delivery is under way (deliveries started while waiting included); rejects after timeoutMs. */
  async waitForIdle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.#inFlight.size > 0) {
      await within(
        Promise.all(this.#inFlight),
        deadline - Date.now(),
        `Event bus ${this.name}: ${this.#inFlight.size} deliveries still under way after ${timeoutMs} ms`,
      );
    }
  }

  /** Refuses new events and rules, then waits for the deliveries under way, their retries included. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  #refuseWhenClosed(): void {
    if (this.#closed) throw new Error(`The embedded event bus ${this.name} is closed`);
  }

  #accept(entry: PutEventsRequestEntry, now: Date): PutEventsResultEntry {
    const refusal = this.#refusal(entry);
    if (refusal) return refusal;
    const detail = parseDetail(entry.Detail);
    if (detail === undefined) return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
    const event = this.#envelope(entry.Source, entry.DetailType, detail, entry.Resources, entry.Time ?? now);
    this.#route(event);
    return { EventId: event.id };
  }

  /** Why PutEvents fails this entry, before its Detail is read. */
  #refusal(entry: PutEventsRequestEntry): PutEventsResultEntry | undefined {
    const invalid = (reason: string) => ({ ErrorCode: 'InvalidArgument', ErrorMessage: reason });
    if (entry.EventBusName === undefined ? this.name !== 'default' : !this.#isNamedBy(entry.EventBusName)) {
      // On AWS the entry would go to another bus, where no rule of this one sees it: refused here, loudly.
      const target = entry.EventBusName ?? 'default';
      return invalid(`The embedded runtime has no event bus "${target}", only "${this.name}"`);
    }
    if (typeof entry.Source !== 'string' || entry.Source === '')
      return invalid('Source is a required argument.');
    if (typeof entry.DetailType !== 'string' || entry.DetailType === '') {
      return invalid('DetailType is a required argument.');
    }
    if (typeof entry.Detail !== 'string') return invalid('Detail is a required argument.');
    if (entry.Resources !== undefined && !entry.Resources.every((arn) => typeof arn === 'string')) {
      return invalid('Resources must be strings.');
    }
    if (entry.Time !== undefined && Number.isNaN(entry.Time.getTime()))
      return invalid('Time is not a valid date.');
    // "aws." sources are reserved to AWS services.
    if (entry.Source.startsWith('aws.')) {
      return { ErrorCode: 'NotAuthorizedForSourceException', ErrorMessage: 'Not authorized for the source.' };
    }
    return undefined;
  }

  #isNamedBy(nameOrArn: string): boolean {
    return nameOrArn === this.name || nameOrArn === this.arn;
  }

  #envelope(
    source: string,
    detailType: string,
    detail: unknown,
    resources: string[] = [],
    time = new Date(),
  ): BusEvent {
    return {
      version: '0',
      id: randomUUID(),
      'detail-type': detailType,
      source,
      account: this.account,
      // EventBridge's times have whole seconds: 2017-10-02T16:24:49Z.
      time: `${time.toISOString().slice(0, 19)}Z`,
      region: this.region,
      resources: [...resources],
      detail,
    };
  }

  /** Matches the event against every rule now; each matching target gets it in a later turn. */
  #route(event: BusEvent): void {
    const body = JSON.stringify(event);
    for (const rule of this.#rules.values()) {
      if (!matchesEventPattern(rule.pattern, event)) continue;
      for (const lane of rule.lanes)
        this.#track(lane.enqueue(() => this.#deliver(rule, lane.target, event.id, body)));
    }
  }

  #track(delivery: Promise<void>): void {
    this.#inFlight.add(delivery);
    void delivery.finally(() => this.#inFlight.delete(delivery));
  }

  /** Delivers with the retry policy; never throws: an event that exhausts it is logged as undeliverable. */
  async #deliver(rule: Rule, target: RuleTarget, eventId: string, body: string): Promise<void> {
    const targetName = nameOf(target);
    const about = { bus: this.name, rule: rule.name, target: targetName, eventId };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#send(target, body);
        return;
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        const final = error instanceof FinalDeliveryError || attempt >= this.#retry.maxAttempts;
        if (final) {
          this.#log(
            `event ${eventId} undeliverable to ${targetName} (rule ${rule.name}) after ${attempt} attempt(s): ${reason}`,
            {
              ...about,
              attempts: attempt,
              error: reason,
            },
          );
          return;
        }
        const delayMs = this.#backoff(attempt);
        this.#log(
          `event ${eventId} to ${targetName} failed (attempt ${attempt}), retrying in ${delayMs} ms: ${reason}`,
          {
            ...about,
            attempt,
            error: reason,
          },
        );
        await sleep(delayMs);
      }
    }
  }

  /** Full jitter: a uniformly random part of a window that doubles from firstDelayMs up to maxDelayMs. */
  #backoff(attempt: number): number {
    const window = Math.min(this.#retry.maxDelayMs, this.#retry.firstDelayMs * 2 ** (attempt - 1));
    return Math.floor(this.#random() * window);
  }

  async #send(target: RuleTarget, body: string): Promise<void> {
    switch (target.kind) {
      case 'function':
        await target.invoke(JSON.parse(body) as BusEvent);
        return;
      case 'queue':
        await target.send(body, target.messageGroupId);
        return;
      case 'http':
        await this.#post(target, body);
        return;
    }
  }

  async #post(target: HttpTarget, body: string): Promise<void> {
    const response = await fetch(target.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', ...target.headers },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(this.#httpTimeoutMs),
    });
    await response.arrayBuffer(); // frees the connection
    if (response.ok) return;
    const failure = `${target.url} answered ${response.status}`;
    if (RETRIED_HTTP_STATUSES.has(response.status) || response.status >= 500) throw new Error(failure);
    throw new FinalDeliveryError(failure);
  }
}

interface Rule {
  name: string;
  pattern: EventPattern;
  lanes: TargetLane[];
}

/** One rule target's deliveries, one at a time in the order they were queued. */
class TargetLane {
  readonly target: RuleTarget;
  #tail: Promise<void> = Promise.resolve();

  constructor(target: RuleTarget) {
    this.target = target;
  }

  /** `deliver` never rejects; it starts in a later turn than the put that queued it, after the ones before it. */
  enqueue(deliver: () => Promise<void>): Promise<void> {
    this.#tail = this.#tail.then(() => nextTurn()).then(deliver);
    return this.#tail;
  }
}

/** A delivery failure EventBridge does not retry (an API destination's 4xx other than 401/407/409/429). */
class FinalDeliveryError extends Error {
  override readonly name = 'FinalDeliveryError';
}

function nameOf(target: RuleTarget): string {
  switch (target.kind) {
    case 'function':
      return `function ${target.name}`;
    case 'queue':
      return `queue ${target.name ?? '(unnamed)'}`;
    case 'http':
      return `API destination ${target.url}`;
  }
}

/** The Detail as an object, or undefined when it is not a JSON object (PutEvents' MalformedDetail). */
function parseDetail(detail: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(detail);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * An entry's size as "Calculating PutEvents event entry size" counts it: the UTF-8 bytes of Source,
 * DetailType, Detail and each resource, plus 14 bytes for a Time.
 */
function entrySize(entry: PutEventsRequestEntry): number {
  const bytes = (text: unknown) => (typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : 0);
  return (
    (entry.Time ? 14 : 0) +
    bytes(entry.Source) +
    bytes(entry.DetailType) +
    bytes(entry.Detail) +
    (entry.Resources ?? []).reduce((total, arn) => total + bytes(arn), 0)
  );
}
