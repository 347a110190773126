import type { DeploymentStatus } from '../functions/core/types.ts';

/**
 * What `kiln` exits with (README "The kiln CLI"). A command that starts a deployment and waits for it
 * (`--watch`) exits with how the deployment ended, so a script can branch on it without parsing output.
 */
export const EXIT = Object.freeze({
  /** Done; a watched deployment succeeded. */
  ok: 0,
  /** Kiln answered with a problem (4xx/5xx), or could not be reached. */
  apiError: 1,
  /** The command line (or the file it names) is wrong: nothing was sent. */
  usage: 2,
  /** The deployment failed, or rolled back (the previous stack serves). */
  failed: 3,
  /** Someone cancelled the deployment. */
  cancelled: 4,
  /** An approver rejected the deployment, or nobody answered in time. */
  rejected: 5,
  /** A newer request for the environment won: this one never ran. */
  superseded: 6,
});

/** A deployment status that is an outcome: the deployment will not change any more. */
export type Outcome = Exclude<DeploymentStatus, 'queued' | 'awaiting_approval' | 'running'>;

const EXIT_OF_OUTCOME: Readonly<Record<Outcome, number>> = {
  succeeded: EXIT.ok,
  failed: EXIT.failed,
  rolled_back: EXIT.failed,
  cancelled: EXIT.cancelled,
  rejected: EXIT.rejected,
  expired: EXIT.rejected,
  superseded: EXIT.superseded,
};

/** True once a deployment has ended (the watch stops polling). */
export function isOutcome(status: DeploymentStatus): status is Outcome {
  return status in EXIT_OF_OUTCOME;
}

/** The exit code of a watched deployment's outcome. */
export function exitCodeOf(outcome: Outcome): number {
  return EXIT_OF_OUTCOME[outcome];
}
