import ora, { type Ora } from 'ora';
import type { Deployment, DeploymentStep } from '../functions/core/types.ts';

/** A deployment as `GET /environments/{name}/deployments/{id}` shows it (functions/shared/views.ts). */
export type DeploymentRecord = Pick<
  Deployment,
  'id' | 'environment' | 'action' | 'status' | 'requestedAt' | 'startedAt' | 'endedAt' | 'error' | 'warnings'
> & { version?: string; steps?: DeploymentStep[] };

/**
 * How a watched deployment is shown. Kiln records a step when it ends, so a step appears with its
 * duration once done; until the next one ends, the view shows what the deployment is waiting on.
 */
export interface WatchView {
  /** The first answer: which deployment is watched. */
  begin(deployment: DeploymentRecord): void;
  /** A step ended (each step once, in the deployment's order). */
  step(step: DeploymentStep): void;
  /** Each answer of a deployment still in progress, before the steps that answer shows ended. */
  progress(deployment: DeploymentRecord): void;
  /** The deployment ended. */
  end(deployment: DeploymentRecord): void;
}

/** The stream a view writes to: a TTY gets the spinner (see watchViewFor). */
export type ViewStream = NodeJS.WritableStream & { isTTY?: boolean };

/** A spinner with live elapsed times on a terminal; plain lines otherwise (a pipe, a file, CI logs). */
export function watchViewFor(stream: ViewStream, now: () => number = Date.now): WatchView {
  return stream.isTTY ? new SpinnerView(stream, now) : new PlainView(stream);
}

/** `0.4s`, `12.0s`, `2m 03s`, `1h 05m`. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** `deployment 01J… of shop-dev (deploy 2.0.0)`. */
export function headline(deployment: DeploymentRecord): string {
  const what = [deployment.action, deployment.version].filter(Boolean).join(' ');
  return `deployment ${deployment.id} of ${deployment.environment} (${what})`;
}

/** A finished step: its name, how long it took and what it says. */
export function stepLine(step: DeploymentStep): string {
  const took = step.endedAt ? formatDuration(Date.parse(step.endedAt) - Date.parse(step.startedAt)) : '';
  return [step.name.padEnd(30), took.padStart(7), step.detail ? ` ${step.detail}` : ''].join(' ').trimEnd();
}

/** What a deployment in progress waits on: the lease, an approver, or its next step to end. */
export function waitingFor(deployment: DeploymentRecord): string {
  if (deployment.status === 'queued') return 'queued: waiting for the environment to be free';
  if (deployment.status === 'awaiting_approval') return 'awaiting approval';
  return 'running: next step';
}

/** Since when it has waited (ms since the epoch): the end of its last step, else its start or request. */
export function waitingSince(deployment: DeploymentRecord): number {
  const last = deployment.steps?.at(-1)?.endedAt;
  return Date.parse(last ?? deployment.startedAt ?? deployment.requestedAt);
}

/** `succeeded in 6.1s`, `rolled_back in 8.2s: StackNotHealthyError: …`, then one line per warning. */
export function outcomeLines(deployment: DeploymentRecord): string[] {
  const from = Date.parse(deployment.startedAt ?? deployment.requestedAt);
  const took = deployment.endedAt ? ` in ${formatDuration(Date.parse(deployment.endedAt) - from)}` : '';
  const error = deployment.error ? `: ${deployment.error.name}: ${deployment.error.message}` : '';
  return [
    `${deployment.status}${took}${error}`,
    ...(deployment.warnings ?? []).map((warning) => `warning: ${warning}`),
  ];
}

/** One line per event, nothing rewritten: what a pipe or a log file can hold. */
export class PlainView implements WatchView {
  readonly #stream: NodeJS.WritableStream;
  #status: string | undefined;

  constructor(stream: NodeJS.WritableStream) {
    this.#stream = stream;
  }

  begin(deployment: DeploymentRecord): void {
    this.#line(headline(deployment));
  }

  step(step: DeploymentStep): void {
    this.#line(`  ${stepLine(step)}`);
  }

  progress(deployment: DeploymentRecord): void {
    if (deployment.status === this.#status) return;
    this.#status = deployment.status;
    this.#line(`status: ${deployment.status}`);
  }

  end(deployment: DeploymentRecord): void {
    for (const line of outcomeLines(deployment)) this.#line(line);
  }

  #line(text: string): void {
    this.#stream.write(`${text}\n`);
  }
}

/**
 * A terminal: each ended step stays as a line; below them a spinner says what the deployment waits on
 * and for how long, the time counting live between polls.
 */
export class SpinnerView implements WatchView {
  readonly #spinner: Ora;
  readonly #now: () => number;
  #since = 0;

  constructor(stream: ViewStream, now: () => number) {
    this.#now = now;
    this.#spinner = ora({
      stream,
      isEnabled: true,
      // Keep Ctrl-C a plain SIGINT: the watch can be left at any time, the deployment goes on.
      discardStdin: false,
      suffixText: () => formatDuration(this.#now() - this.#since),
    });
  }

  begin(deployment: DeploymentRecord): void {
    this.#spinner.stopAndPersist({ symbol: '›', text: headline(deployment), suffixText: '' });
  }

  step(step: DeploymentStep): void {
    const spinning = this.#spinner.isSpinning;
    this.#spinner.stopAndPersist({ symbol: '•', text: stepLine(step), suffixText: '' });
    if (spinning) this.#spinner.start();
  }

  progress(deployment: DeploymentRecord): void {
    this.#since = waitingSince(deployment);
    this.#spinner.text = waitingFor(deployment);
    if (!this.#spinner.isSpinning) this.#spinner.start();
  }

  end(deployment: DeploymentRecord): void {
    const [outcome = deployment.status, ...warnings] = outcomeLines(deployment);
    this.#spinner.suffixText = '';
    if (deployment.status === 'succeeded') this.#spinner.succeed(outcome);
    else this.#spinner.fail(outcome);
    for (const warning of warnings) this.#spinner.warn(warning);
  }
}
