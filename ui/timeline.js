/**
 * A deployment's timeline as the dashboard draws it: one bar per step on a shared time axis (a Gantt
 * chart), and, while the deployment is not over, an open bar from its last recorded step to now (a step
 * is recorded when it ends, so what runs now has no record yet). Pure: positions are fractions of the
 * chart's width, times are milliseconds.
 *
 * @typedef {{ name: string, startedAt: string, endedAt?: string, detail?: string }} Step
 * @typedef {{ status: string, requestedAt: string, startedAt?: string, endedAt?: string, steps?: Step[] }} Deployment
 * @typedef {{ name: string, detail?: string, offset: number, width: number, durationMs: number, running: boolean }} Bar
 * @typedef {{ offset: number, label: string }} Tick
 */

/** The statuses of a deployment that is not over yet. */
export const IN_FLIGHT = new Set(['queued', 'awaiting_approval', 'running']);

/** What the open bar says while a deployment waits or runs. @type {Record<string, string>} */
const WAITING = { queued: 'queued', awaiting_approval: 'awaiting approval', running: 'in progress' };

/** Tick spacings, in seconds, chosen so the axis has at most MAX_TICKS ticks. */
const TICK_SECONDS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400];
const MAX_TICKS = 6;

/**
 * @param {Deployment} deployment
 * @param {number} now the current time (ms), for what is still going on
 * @returns {{ startMs: number, endMs: number, bars: Bar[], ticks: Tick[] }}
 */
export function timelineOf(deployment, now) {
  const steps = [...(deployment.steps ?? [])].sort(
    (a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt),
  );
  const inFlight = IN_FLIGHT.has(deployment.status);
  const startMs = Math.min(Date.parse(deployment.requestedAt), ...steps.map((s) => Date.parse(s.startedAt)));
  const lastEnd = Math.max(startMs, ...steps.map((s) => Date.parse(s.endedAt ?? s.startedAt)));
  const endMs = Math.max(
    lastEnd,
    inFlight ? now : Date.parse(deployment.endedAt ?? '') || lastEnd,
    startMs + 1000, // at least a second wide, so a bar of nothing has somewhere to be
  );
  const span = endMs - startMs;
  /** @type {(from: number, to: number) => Pick<Bar, 'offset' | 'width' | 'durationMs'>} */
  const place = (from, to) => ({
    offset: (from - startMs) / span,
    width: (to - from) / span,
    durationMs: to - from,
  });
  /** @type {Bar[]} */
  const bars = steps.map((step) => ({
    name: step.name,
    ...(step.detail ? { detail: step.detail } : {}),
    ...place(Date.parse(step.startedAt), Date.parse(step.endedAt ?? step.startedAt)),
    running: false,
  }));
  if (inFlight) {
    const since = steps.length > 0 ? lastEnd : Date.parse(deployment.startedAt ?? deployment.requestedAt);
    bars.push({
      name: WAITING[deployment.status] ?? deployment.status,
      ...place(since, endMs),
      running: true,
    });
  }
  return { startMs, endMs, bars, ticks: ticksOf(span) };
}

/** @param {number} spanMs @returns {Tick[]} */
function ticksOf(spanMs) {
  const seconds = TICK_SECONDS.find((s) => spanMs / 1000 / s <= MAX_TICKS) ?? TICK_SECONDS.at(-1) ?? 86400;
  /** @type {Tick[]} */
  const ticks = [];
  for (let at = 0; at <= spanMs; at += seconds * 1000) {
    ticks.push({ offset: at / spanMs, label: at === 0 ? '0' : `+${formatDuration(at)}` });
  }
  return ticks;
}

/** `40 ms`, `2.4 s`, `12 s`, `2 min 5 s`, `1 h 3 min`: how long something took, to a person. @param {number} ms */
export function formatDuration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000 && ms % 1000 !== 0) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return seconds % 60 ? `${minutes} min ${seconds % 60} s` : `${minutes} min`;
  return minutes % 60 ? `${Math.floor(minutes / 60)} h ${minutes % 60} min` : `${Math.floor(minutes / 60)} h`;
}
