/**
 * Waiting belongs to Step Functions, not to Lambda: a task that starts something slow (instances starting,
 * requests draining, instances terminating) acts and returns at once; a Wait state paces the checks that
 * follow, each a short task run, until what it waits for has happened or the deadline has passed. The
 * progress travels in the workflow state between rounds, as the health wait's does.
 */
export interface WaitProgress {
  /** What the loop waits for has happened: the workflow goes on. */
  done: boolean;
  /** ISO time after which the loop stops waiting: each loop says what happens then. */
  deadline: string;
  /** Seconds the Wait state waits before the next check. */
  waitSeconds: number;
  /** ISO time of the loop's first act: the start of the step it records. */
  since: string;
}

/**
 * The first check comes a second after the act (embedded instances stop, and short drains end, within
 * it); each later one waits twice as long, never more than this: EC2 instances take half a minute to run
 * and a minute or two to terminate, which costs a handful of transitions and no Lambda time.
 */
const MAX_WAIT_SECONDS = 15;

/** A loop that starts at `since` and waits at most `seconds`. */
export function startWaiting(since: Date, seconds: number): WaitProgress {
  return {
    done: false,
    deadline: new Date(since.getTime() + seconds * 1000).toISOString(),
    waitSeconds: 1,
    since: since.toISOString(),
  };
}

/** The progress once a check found the loop's end. */
export function doneWaiting(progress: WaitProgress): WaitProgress {
  return { ...progress, done: true, waitSeconds: 0 };
}

/**
 * The progress after a check that found the loop not over yet: the next wait doubles, bounded, and ends
 * no later than a second past the deadline (where the loop stops waiting).
 */
export function keepWaiting(progress: WaitProgress, now: Date): WaitProgress {
  const untilDeadline = Math.ceil((Date.parse(progress.deadline) - now.getTime()) / 1000);
  const next = Math.min(progress.waitSeconds * 2, MAX_WAIT_SECONDS, Math.max(untilDeadline, 0) + 1);
  return { ...progress, done: false, waitSeconds: Math.max(next, 1) };
}
