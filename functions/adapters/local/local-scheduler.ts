/**
 * The embedded EventBridge Scheduler: schedules with rate/cron/at expressions in a time zone
 * (functions/core/schedule-expressions.ts), each invoking its target with its input at every fire, the context
 * attributes substituted as Scheduler substitutes them.
 *
 * What Scheduler does, and where the embedded scheduler differs:
 * - A rate schedule without a StartDate "starts invoking the target immediately", then every interval
 *   (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html). Embedded, the first
 *   start() (or add() while running) is that creation: a rate schedule fires then, and keeps that cadence.
 * - Scheduler invokes within the minute of the scheduled time (60-second precision); embedded, on the
 *   second.
 * - Fires that fall while the scheduler is stopped are not caught up: the next fire is the first one at or
 *   after start(), as a disabled schedule, once enabled again, resumes with its next fire and does not
 *   replay the ones it missed. A clock that jumps (a laptop waking) skips the fires it jumped over too.
 * - A failed invocation is retried with exponential backoff, up to 185 times within 24 hours, the
 *   maximums of the target's RetryPolicy (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html).
 *   Embedded, EMBEDDED_SCHEDULER_RETRY shortens that to a few attempts seconds apart, without jitter so
 *   that tests can predict them; an invocation that exhausts it is logged as undeliverable.
 * - Context attributes (https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html)
 *   are keywords replaced in the input's text: `<aws.scheduler.schedule-arn>`,
 *   `<aws.scheduler.scheduled-time>` (the time the schedule named, `2022-03-22T18:59:43Z`),
 *   `<aws.scheduler.execution-id>` and `<aws.scheduler.attempt-number>` (1, then 2 for the first retry...).
 *   The execution id is read as one id per scheduled invocation, shared by its retries (which the attempt
 *   number tells apart): the documentation's "each attempted invocation" leaves that open.
 * - Each fire invokes its target whether or not the previous invocation has finished.
 */
import { randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  nextFireOf,
  parseScheduleExpression,
  type ScheduleExpression,
} from '../../core/schedule-expressions.ts';

/** The time source of a scheduler: the system's, or a ManualClock in tests. */
export interface SchedulerClock {
  now(): Date;
  /** Calls `fire` at `at` (at once when it is past); returns a function that cancels it. */
  setTimer(at: Date, fire: () => void): () => void;
}

/** setTimeout's longest delay (about 24.8 days); longer waits are re-armed in steps. */
const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** The system clock. Its timers do not keep the process alive on their own. */
export const systemClock: SchedulerClock = {
  now: () => new Date(),
  setTimer(at, fire) {
    let timer: NodeJS.Timeout;
    const arm = () => {
      const delay = at.getTime() - Date.now();
      timer =
        delay > MAX_TIMER_DELAY_MS
          ? setTimeout(arm, MAX_TIMER_DELAY_MS)
          : setTimeout(fire, Math.max(0, delay));
      timer.unref();
    };
    arm();
    return () => clearTimeout(timer);
  },
};

interface ManualTimer {
  at: number;
  /** Breaks ties between timers set for the same time: the first set fires first. */
  order: number;
  fire: () => unknown;
}

/** A clock that moves only when told to: advance() fires the timers that come due, in time order. */
export class ManualClock implements SchedulerClock {
  #now: number;
  #timers: ManualTimer[] = [];
  #order = 0;

  constructor(start: Date) {
    this.#now = start.getTime();
  }

  now(): Date {
    return new Date(this.#now);
  }

  setTimer(at: Date, fire: () => void): () => void {
    const timer = { at: at.getTime(), order: this.#order++, fire };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((other) => other !== timer);
    };
  }

  /** Timers not fired or cancelled yet. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /**
   * Moves the clock `ms` forward. Each timer due by then fires in turn, earliest first (ties in the order
   * they were set), with now() reading its time; a fire that returns a promise is awaited, and so is
   * whatever it set off in the same turn, before the next timer fires. Timers set while advancing fire too
   * when they come due within the advance.
   */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (let timer = this.#nextDue(until); timer; timer = this.#nextDue(until)) {
      this.#timers = this.#timers.filter((other) => other !== timer);
      this.#now = Math.max(this.#now, timer.at);
      await timer.fire();
      await nextTurn();
    }
    this.#now = Math.max(this.#now, until);
  }

  #nextDue(until: number): ManualTimer | undefined {
    let due: ManualTimer | undefined;
    for (const timer of this.#timers) {
      if (timer.at > until) continue;
      if (!due || timer.at < due.at || (timer.at === due.at && timer.order < due.order)) due = timer;
    }
    return due;
  }
}

export interface ScheduleDefinition<Input extends object = object> {
  /** 1 to 64 of `0-9a-zA-Z-_.`, unique in the scheduler (Scheduler's rule for names in a group). */
  name: string;
  /** `rate(5 minutes)`, `cron(30 2 * * ? *)` or `at(2026-11-02T09:30:00)`. */
  expression: string;
  /** An IANA time zone: the one cron() and at() are read in. UTC by default. */
  timezone?: string;
  /**
   * Embedded only: fire every `periodMs` (from start()) instead of at the expression's times, which is still
   * checked. Scheduler's shortest rate is a minute; a laptop's upkeep may want seconds (KILN_UPKEEP_PERIOD_SECONDS).
   */
  periodMs?: number;
  /** The target's input; the Scheduler context attributes in its strings are replaced at each invocation. */
  input: Input;
  target: (input: Input) => Promise<unknown>;
}

export interface SchedulerRetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  /** The wait before the first retry; it doubles for each further one. */
  firstDelayMs: number;
}

/** Scheduler's 185 retries over 24 hours, shortened for a laptop: 3 attempts, 1 s then 2 s apart. */
export const EMBEDDED_SCHEDULER_RETRY: SchedulerRetryPolicy = { maxAttempts: 3, firstDelayMs: 1000 };

export interface LocalSchedulerOptions {
  clock?: SchedulerClock;
  log?: (message: string, detail?: object) => void;
  account?: string;
  region?: string;
  retry?: Partial<SchedulerRetryPolicy>;
}

const SCHEDULE_NAME = /^[0-9a-zA-Z\-_.]{1,64}$/;

export class LocalScheduler {
  readonly #clock: SchedulerClock;
  readonly #log: (message: string, detail?: object) => void;
  readonly #account: string;
  readonly #region: string;
  readonly #retry: SchedulerRetryPolicy;
  readonly #schedules = new Map<string, Schedule>();
  /** Cancels of the retries waiting for their time. */
  readonly #retries = new Set<() => void>();
  readonly #inFlight = new Set<Promise<void>>();
  #running = false;

  constructor(options: LocalSchedulerOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? (() => {});
    this.#account = options.account ?? '000000000000';
    this.#region = options.region ?? 'local';
    this.#retry = { ...EMBEDDED_SCHEDULER_RETRY, ...options.retry };
  }

  /**
   * Adds a schedule, armed at once when the scheduler runs. Throws InvalidScheduleExpressionError for an
   * expression or time zone Scheduler would refuse, and Error for a bad or taken name.
   */
  add<Input extends object>(definition: ScheduleDefinition<Input>): void {
    if (!SCHEDULE_NAME.test(definition.name)) {
      throw new Error(`Schedule name "${definition.name}" must be 1 to 64 of the characters 0-9a-zA-Z-_.`);
    }
    if (this.#schedules.has(definition.name)) throw new Error(`Schedule "${definition.name}" already exists`);
    const schedule: Schedule = {
      name: definition.name,
      arn: `arn:aws:scheduler:${this.#region}:${this.#account}:schedule/default/${definition.name}`,
      expression: periodic(parseScheduleExpression(definition.expression, definition.timezone), definition),
      inputJson: JSON.stringify(definition.input),
      target: definition.target as (input: object) => Promise<unknown>,
    };
    this.#schedules.set(schedule.name, schedule);
    if (this.#running) this.#arm(schedule, this.#clock.now().getTime());
  }

  /** Removes a schedule: no further fire; its invocations under way finish. */
  remove(name: string): void {
    this.#schedules.get(name)?.cancel?.();
    this.#schedules.delete(name);
  }

  /** When the schedule fires next; undefined when it will not (stopped, over, or unknown). */
  nextFire(name: string): Date | undefined {
    const next = this.#schedules.get(name)?.next;
    return next === undefined ? undefined : new Date(next);
  }

  /** Arms every schedule at its first fire at or after now. Fires missed while stopped are not caught up. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const now = this.#clock.now().getTime();
    for (const schedule of this.#schedules.values()) this.#arm(schedule, now);
  }

  /** Cancels every fire and waiting retry, then waits for the invocations under way. */
  async stop(): Promise<void> {
    this.#running = false;
    for (const schedule of this.#schedules.values()) {
      schedule.cancel?.();
      schedule.cancel = undefined;
      schedule.next = undefined;
    }
    if (this.#retries.size > 0) this.#log(`scheduler stopped: ${this.#retries.size} waiting retries dropped`);
    for (const cancel of this.#retries) cancel();
    this.#retries.clear();
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /** Sets the timer of the schedule's first fire at or after `notBefore`, if it has one. */
  #arm(schedule: Schedule, notBefore: number): void {
    schedule.cancel?.();
    schedule.cancel = undefined;
    const next = this.#firstFireFrom(schedule, notBefore);
    schedule.next = next;
    if (next === undefined) return;
    schedule.cancel = this.#clock.setTimer(new Date(next), () => this.#fire(schedule, next));
  }

  #firstFireFrom(schedule: Schedule, notBefore: number): number | undefined {
    const { expression } = schedule;
    if (expression.kind === 'rate') {
      // The cadence starts when the schedule is first armed (its creation, for Scheduler).
      schedule.rateAnchor ??= notBefore;
      const intervals = Math.max(0, Math.ceil((notBefore - schedule.rateAnchor) / expression.intervalMs));
      return schedule.rateAnchor + intervals * expression.intervalMs;
    }
    return nextFireOf(expression, new Date(notBefore - 1))?.getTime();
  }

  /** One scheduled invocation: the next fire is armed first, so that a slow target never delays it. */
  #fire(schedule: Schedule, scheduledTime: number): Promise<void> {
    if (!this.#running || this.#schedules.get(schedule.name) !== schedule) return Promise.resolve();
    this.#arm(schedule, Math.max(scheduledTime + 1, this.#clock.now().getTime()));
    const executionId = randomBytes(8).toString('hex');
    return this.#attempt(schedule, scheduledTime, executionId, 1);
  }

  /** Never rejects: a failure is retried later, or logged as undeliverable. */
  #attempt(schedule: Schedule, scheduledTime: number, executionId: string, attempt: number): Promise<void> {
    const input = withContextAttributes(schedule.inputJson, {
      'schedule-arn': schedule.arn,
      'scheduled-time': `${new Date(scheduledTime).toISOString().slice(0, 19)}Z`,
      'execution-id': executionId,
      'attempt-number': String(attempt),
    });
    const call = (async () => {
      try {
        await schedule.target(input);
      } catch (error) {
        this.#failed(schedule, scheduledTime, executionId, attempt, error);
      }
    })();
    this.#inFlight.add(call);
    void call.finally(() => this.#inFlight.delete(call));
    return call;
  }

  #failed(
    schedule: Schedule,
    scheduledTime: number,
    executionId: string,
    attempt: number,
    error: unknown,
  ): void {
    const reason = error instanceof Error ? error.message : String(error);
    const about = {
      schedule: schedule.name,
      executionId,
      scheduledTime: new Date(scheduledTime).toISOString(),
    };
    if (attempt >= this.#retry.maxAttempts || !this.#running) {
      this.#log(
        `schedule ${schedule.name}: invocation ${executionId} undeliverable after ${attempt} attempt(s): ${reason}`,
        {
          ...about,
          attempts: attempt,
          error: reason,
        },
      );
      return;
    }
    const delayMs = this.#retry.firstDelayMs * 2 ** (attempt - 1);
    this.#log(
      `schedule ${schedule.name}: invocation ${executionId} failed (attempt ${attempt}), retrying in ${delayMs} ms: ${reason}`,
      {
        ...about,
        attempt,
        error: reason,
      },
    );
    const at = new Date(this.#clock.now().getTime() + delayMs);
    const cancel = this.#clock.setTimer(at, () => {
      this.#retries.delete(cancel);
      return this.#attempt(schedule, scheduledTime, executionId, attempt + 1);
    });
    this.#retries.add(cancel);
  }
}

interface Schedule {
  name: string;
  arn: string;
  expression: ScheduleExpression;
  inputJson: string;
  target: (input: object) => Promise<unknown>;
  /** The armed fire, if any. */
  next?: number;
  cancel?: () => void;
  /** A rate schedule's first fire: later fires keep its cadence. */
  rateAnchor?: number;
}

/**
 * The input with each `<aws.scheduler.NAME>` keyword replaced, in its JSON text as Scheduler does.
 * The values (an ARN, a time, hex digits, a number) hold nothing JSON would need escaped.
 */
function withContextAttributes(inputJson: string, attributes: Record<string, string>): object {
  let text = inputJson;
  for (const [name, value] of Object.entries(attributes))
    text = text.replaceAll(`<aws.scheduler.${name}>`, value);
  return JSON.parse(text) as object;
}

/** The schedule's expression, or a rate of `periodMs` in its place when the definition asks for one. */
function periodic(
  expression: ScheduleExpression,
  definition: Pick<ScheduleDefinition, 'name' | 'expression' | 'periodMs'>,
): ScheduleExpression {
  if (definition.periodMs === undefined) return expression;
  if (!(definition.periodMs >= 1000))
    throw new Error(`Schedule "${definition.name}": periodMs must be at least 1000`);
  return { kind: 'rate', expression: definition.expression, intervalMs: definition.periodMs };
}
