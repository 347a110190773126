/**
 * EventBridge Scheduler's schedule expressions, evaluated as Scheduler evaluates them, for the embedded
 * scheduler: `rate(...)`, `cron(...)` and `at(...)`, each in an IANA time zone (UTC by default).
 *
 * Sources:
 * - [types] "Schedule types in EventBridge Scheduler" (rate, cron, one-time; time zones; daylight saving),
 *   https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html
 * - [cron] "Cron expressions reference", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html
 * - [dst] "How do I adjust EventBridge Scheduler for daylight saving time?",
 *   https://repost.aws/knowledge-center/eventbridge-scheduler-adjust-dst
 *
 * Daylight saving time, as Scheduler documents it [dst][types]:
 * - A cron time that does not exist in the time zone that day (clocks spring forward over it) is
 *   skipped: no invocation that day for it, none moved to after the gap.
 * - A cron time that occurs twice (clocks fall back over it) runs once, not again when it recurs.
 *   Which of the two occurrences is not documented: the embedded scheduler takes the first.
 * - A rate is a fixed duration: `rate(1 days)` fires every 24 hours, whatever the clocks do.
 *
 * The cron arithmetic is croner's, run on wall-clock times with no time zone (in UTC), so that the
 * time-zone and DST rules above are applied here, not croner's (croner moves a fixed time that falls in a
 * gap to after it, and runs interval jobs twice in a repeated hour). AWS's cron syntax is translated to
 * croner's field by field:
 * - 6 AWS fields (minutes hours day-of-month month day-of-week year) become croner's 7 with seconds 0.
 * - `?` (any, required in exactly one of day-of-month and day-of-week) becomes `*`: with the other day
 *   field restricted, croner then uses that field alone, as AWS does.
 * - Day-of-week numbers are AWS's 1-7 = SUN-SAT, croner's `alternativeWeekdays` (Quartz) numbering; names
 *   are turned into those numbers here. `L` alone (the last day of the week) becomes 7 (SAT), `5L` (the
 *   last Thursday of the month, as Quartz reads it) becomes croner's `5#L`; `3#2` stays.
 * - `a/n` (every n from a) becomes `a-<max>/n`, and `*\/n` becomes `<min>-<max>/n`, with AWS's bounds: a
 *   year step counts from 1970 as AWS does, where croner would count from year 1.
 * - Month names become numbers; `L`, `LW` and `15W` in day-of-month are croner's own.
 */
import { Cron } from 'croner';

/** Thrown for an expression or time zone checkScheduleExpression finds problems in. */
export class InvalidScheduleExpressionError extends Error {
  override readonly name = 'InvalidScheduleExpressionError';
  readonly problems: string[];

  constructor(expression: string, problems: string[]) {
    super(`Invalid schedule expression ${expression}: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** A checked expression, ready to compute fire times. */
export type ScheduleExpression =
  | { kind: 'rate'; expression: string; intervalMs: number }
  | { kind: 'cron'; expression: string; timezone: string; cron: Cron }
  | { kind: 'at'; expression: string; timezone: string; instant: Date };

/**
 * The first time the schedule fires strictly after `after`; undefined when it never fires again (an
 * `at()` in the past, a cron whose years are over). For `rate()`, the fire one interval after `after`
 * (the previous fire): when a rate schedule starts is its scheduler's business. Throws
 * InvalidScheduleExpressionError for a malformed expression or an unknown time zone.
 */
export function nextFireTime(expression: string, after: Date, timezone = 'UTC'): Date | undefined {
  return nextFireOf(parseScheduleExpression(expression, timezone), after);
}

/** The problems that make Scheduler refuse the expression (or the time zone); empty when there are none. */
export function checkScheduleExpression(expression: string, timezone = 'UTC'): string[] {
  return parse(expression, timezone).problems;
}

/** Parses and checks once, for a scheduler that computes many fire times; throws like nextFireTime. */
export function parseScheduleExpression(expression: string, timezone = 'UTC'): ScheduleExpression {
  const { schedule, problems } = parse(expression, timezone);
  if (!schedule) throw new InvalidScheduleExpressionError(expression, problems);
  return schedule;
}

export function nextFireOf(schedule: ScheduleExpression, after: Date): Date | undefined {
  switch (schedule.kind) {
    case 'rate':
      return new Date(after.getTime() + schedule.intervalMs);
    case 'at':
      return schedule.instant.getTime() > after.getTime() ? schedule.instant : undefined;
    case 'cron':
      return nextCronFire(schedule.cron, schedule.timezone, after);
  }
}

// ---------------------------------------------------------------------------------------------

type Parsed = { schedule: ScheduleExpression; problems: [] } | { schedule?: undefined; problems: string[] };

const MINUTE_MS = 60_000;
const UNIT_MS: Record<string, number> = { minute: MINUTE_MS, hour: 60 * MINUTE_MS, day: 24 * 60 * MINUTE_MS };

function parse(expression: string, timezone: string): Parsed {
  if (!isTimeZone(timezone)) return { problems: [`"${timezone}" is not an IANA time zone`] };
  const [, kind, body] = /^(rate|cron|at)\((.*)\)$/s.exec(expression) ?? [];
  if (kind === undefined || body === undefined) {
    return { problems: ['an expression is rate(value unit), cron(fields) or at(yyyy-mm-ddThh:mm:ss)'] };
  }
  if (kind === 'rate') return parseRate(expression, body);
  if (kind === 'at') return parseAt(expression, body, timezone);
  return parseCron(expression, body, timezone);
}

/** [types] `rate(value unit)`: a positive whole value; the unit singular for 1, plural otherwise. */
function parseRate(expression: string, body: string): Parsed {
  const [, value, unit, plural] = /^([1-9][0-9]*) (minute|hour|day)(s?)$/.exec(body) ?? [];
  if (value === undefined || unit === undefined) {
    return { problems: ['rate() takes a positive whole value and minutes, hours or days: rate(5 minutes)'] };
  }
  if ((value === '1') !== (plural === '')) {
    const right = value === '1' ? `rate(1 ${unit})` : `rate(${value} ${unit}s)`;
    return { problems: [`rate(${body}): the unit is singular for 1 and plural otherwise: ${right}`] };
  }
  return {
    schedule: { kind: 'rate', expression, intervalMs: Number(value) * (UNIT_MS[unit] as number) },
    problems: [],
  };
}

/**
 * [types] `at(yyyy-mm-ddThh:mm:ss)`, a local time in the schedule's time zone. A time that does not exist
 * there is refused (it could never fire); one that occurs twice fires at the first occurrence.
 */
function parseAt(expression: string, body: string, timezone: string): Parsed {
  const fields = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(body)?.slice(1).map(Number);
  if (!fields) return { problems: ['at() takes a local date and time: at(2026-11-02T09:30:00)'] };
  const [year, month, day, hour, minute, second] = fields as [number, number, number, number, number, number];
  const wall = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(wall);
  if (
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return { problems: [`at(${body}) is not a date and time`] };
  }
  const [first] = instantsAt(wall, timezone);
  if (first === undefined) {
    return {
      problems: [`at(${body}) does not exist in ${timezone}: the clocks skip it (daylight saving time)`],
    };
  }
  return { schedule: { kind: 'at', expression, timezone, instant: new Date(first) }, problems: [] };
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** Characters [cron] allows in the field, beyond digits. */
  allowed: RegExp;
  names?: readonly string[];
}

const MONTH_NAMES = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAY_NAMES = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];

/** [cron] The six fields, their values and wildcards. */
const FIELDS: readonly FieldSpec[] = [
  { name: 'minutes', min: 0, max: 59, allowed: /^[0-9,\-*/]+$/ },
  { name: 'hours', min: 0, max: 23, allowed: /^[0-9,\-*/]+$/ },
  { name: 'day-of-month', min: 1, max: 31, allowed: /^[0-9,\-*?/LW]+$/ },
  { name: 'month', min: 1, max: 12, allowed: /^[0-9A-Za-z,\-*/]+$/, names: MONTH_NAMES },
  { name: 'day-of-week', min: 1, max: 7, allowed: /^[0-9A-Za-z,\-*?L#]+$/, names: DAY_NAMES },
  { name: 'year', min: 1970, max: 2199, allowed: /^[0-9,\-*/]+$/ },
];

function parseCron(expression: string, body: string, timezone: string): Parsed {
  const fields = body.trim().split(/\s+/);
  if (fields.length !== 6) {
    return {
      problems: [
        `cron() has 6 fields (minutes hours day-of-month month day-of-week year), not ${fields.length}`,
      ],
    };
  }
  const problems: string[] = [];
  const [dayOfMonth, dayOfWeek] = [fields[2] as string, fields[4] as string];
  // [cron] "You can't specify the Day-of-month and Day-of-week fields in the same cron expression": one is `?`.
  if ((dayOfMonth === '?') === (dayOfWeek === '?')) {
    problems.push('exactly one of day-of-month and day-of-week must be ? (the other gives the days)');
  }
  const translated = fields.map((field, index) =>
    translateField(field, FIELDS[index] as FieldSpec, problems),
  );
  if (problems.length > 0) return { problems };
  try {
    const cron = new Cron(`0 ${translated.join(' ')}`, {
      timezone: 'UTC',
      mode: '7-part',
      alternativeWeekdays: true,
    });
    return { schedule: { kind: 'cron', expression, timezone, cron }, problems: [] };
  } catch (error) {
    return { problems: [`cron(${body}): ${(error as Error).message}`] };
  }
}

/** One AWS cron field as croner reads it, or problems. */
function translateField(field: string, spec: FieldSpec, problems: string[]): string {
  const problem = (reason: string) => {
    problems.push(`${spec.name} "${field}": ${reason}`);
    return field;
  };
  if (!spec.allowed.test(field)) return problem('has a character this field does not allow');
  if (field === '?') {
    return spec.name === 'day-of-month' || spec.name === 'day-of-week' ? '*' : problem('? is for day fields');
  }
  if (spec.name === 'day-of-month') {
    if (field === 'L' || field === 'LW') return field;
    const weekday = /^(\d{1,2})W$/.exec(field);
    if (weekday) {
      const day = Number(weekday[1]);
      return day >= 1 && day <= 31 ? field : problem('W follows a day of the month, 1 to 31');
    }
    if (/[LW]/.test(field)) return problem('L, LW and nW stand alone in day-of-month');
  }
  if (spec.name === 'day-of-week') {
    if (field === 'L') return '7'; // the last day of the week: SAT
    const nth = /^([A-Za-z]{3}|\d)(#(\d)|L)$/.exec(field);
    if (nth) {
      const day = fieldValue(nth[1] as string, spec);
      if (day === undefined) return problem(`${nth[1]} is not a day of the week (1-7 or SUN-SAT)`);
      if (nth[2] === 'L') return `${day}#L`; // the last such day of the month
      const occurrence = Number(nth[3]);
      return occurrence >= 1 && occurrence <= 5 ? `${day}#${occurrence}` : problem('#n counts 1 to 5');
    }
    if (/[#L]/.test(field)) return problem('# and L stand alone in day-of-week: one d#n, L or dL, no list');
  }
  const items = field.split(',').map((item) => translateItem(item, spec));
  const bad = items.find((item) => item.startsWith('!'));
  return bad ? problem(bad.slice(1)) : items.join(',');
}

/** One list item: `*`, `v`, `a-b`, `*\/n`, `a/n`, `a-b/n`; a reason prefixed with `!` when malformed. */
function translateItem(item: string, spec: FieldSpec): string {
  const [, range, step] = /^([^/]+)(?:\/(\d+))?$/.exec(item) ?? [];
  if (range === undefined) return '!a list item is *, a value, a range, and /step';
  if (step !== undefined && spec.name === 'day-of-week') return '!day-of-week takes no /step';
  let low: number | undefined;
  let high: number | undefined;
  if (range === '*') {
    if (step === undefined) return '*';
    [low, high] = [spec.min, spec.max];
  } else {
    const [from, to] = range.split('-');
    if (from === undefined || range.split('-').length > 2) return `!${range} is not a value or a range`;
    low = fieldValue(from, spec);
    high = to === undefined ? (step === undefined ? low : spec.max) : fieldValue(to, spec);
    if (low === undefined || high === undefined) {
      return `!${range} is outside ${spec.min}-${spec.max}${spec.names ? ` (or ${spec.names[0]}-${spec.names.at(-1)})` : ''}`;
    }
    // Quartz lets some ranges wrap around (FRI-MON); rather than guess, the embedded scheduler refuses them.
    if (low > high) return `!${range} runs backwards: wrap-around ranges are not supported`;
  }
  if (step === undefined) return low === high ? String(low) : `${low}-${high}`;
  const every = Number(step);
  if (every < 1 || every > spec.max - spec.min + 1)
    return `!/${step} is not a step within ${spec.min}-${spec.max}`;
  return `${low}-${high}/${every}`;
}

/** A field value: a number within the field's bounds, or (month, day-of-week) its name. */
function fieldValue(text: string, spec: FieldSpec): number | undefined {
  if (/^\d+$/.test(text)) {
    const value = Number(text);
    return value >= spec.min && value <= spec.max ? value : undefined;
  }
  const index = spec.names?.indexOf(text.toUpperCase()) ?? -1;
  return index >= 0 ? index + spec.min : undefined;
}

// ---------------------------------------------------------------------------------------------
// Wall-clock times in a time zone

/** Enough candidates to cross the longest run of skipped or repeated local times (an hour of minutes, and more). */
const MAX_CANDIDATES = 10_000;

/**
 * croner finds the next matching wall-clock time; this maps it to the instant it names in the time zone,
 * skipping wall times that do not exist and wall times whose first occurrence is already past.
 */
function nextCronFire(cron: Cron, timezone: string, after: Date): Date | undefined {
  const afterMs = after.getTime();
  let cursor = new Date(wallClock(afterMs, timezone));
  for (let candidate = 0; candidate < MAX_CANDIDATES; candidate++) {
    const next = cron.nextRun(cursor);
    if (!next) return undefined;
    const [first] = instantsAt(next.getTime(), timezone);
    if (first !== undefined && first > afterMs) return new Date(first);
    cursor = next;
  }
  throw new Error(
    `No fire time of ${cron.getPattern()} found within ${MAX_CANDIDATES} candidates in ${timezone}`,
  );
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timezone: string): Intl.DateTimeFormat {
  let format = formatters.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timezone, format);
  }
  return format;
}

function isTimeZone(timezone: string): boolean {
  try {
    formatter(timezone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock reading at an instant, in whole seconds, as a UTC timestamp (no zone: just the fields). */
function wallClock(instantMs: number, timezone: string): number {
  const parts: Record<string, number> = {};
  for (const { type, value } of formatter(timezone).formatToParts(new Date(instantMs))) {
    if (type !== 'literal') parts[type] = Number(value);
  }
  const { year, month, day, hour, minute, second } = parts as Record<string, number>;
  return Date.UTC(year as number, (month as number) - 1, day, hour, minute, second);
}

/**
 * The instants at which the time zone's clocks read `wall`, earliest first: none in a gap (clocks
 * springing forward), two in a repeated hour (clocks falling back), one otherwise. Offsets are read a day
 * either side, which spans any single transition.
 */
function instantsAt(wall: number, timezone: string): number[] {
  const day = 24 * 60 * MINUTE_MS;
  const offsets = new Set([wall - day, wall + day].map((probe) => wallClock(probe, timezone) - probe));
  return [...offsets]
    .map((offset) => wall - offset)
    .filter((instant) => wallClock(instant, timezone) === wall)
    .sort((a, b) => a - b);
}
