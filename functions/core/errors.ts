/**
 * Named errors. Workflow tasks throw them so ASL Retry/Catch can match by `name`; the HTTP edge
 * (functions/shared/http.ts) decides which HTTP status each one answers with, as queue and schedule
 * handlers do not speak HTTP.
 */

export class KilnError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ValidationError extends KilnError {
  readonly issues: { path: string; message: string }[];
  constructor(message: string, issues: { path: string; message: string }[] = []) {
    super(message);
    this.issues = issues;
  }
}

export class UnauthorizedError extends KilnError {}

export class ForbiddenError extends KilnError {}

export class NotFoundError extends KilnError {}

/** The caller's If-Match (or a concurrent writer) disagrees with the stored version. */
export class VersionConflictError extends KilnError {}

/** The request conflicts with the resource's state, e.g. cancelling a deployment that already ended. */
export class ConflictError extends KilnError {}

/** Another deployment holds the environment's lease. Retried by the workflow: queued requests wait. */
export class LeaseHeldError extends KilnError {}

/** The new stack did not pass its health check before its deadline. */
export class StackNotHealthyError extends KilnError {}

/** A verification hook answered Failed (or errored, or timed out): the workflow rolls back. */
export class HookFailedError extends KilnError {}

/** A canary step's judgement failed: the workflow rolls back. */
export class CanaryAnalysisFailedError extends KilnError {}

/** An approver said no to a deployment waiting for approval: it ends `rejected`, nothing provisioned. */
export class ApprovalRejectedError extends KilnError {}

/** A freeze window that refuses changes covers the environment: nothing was changed. */
export class FrozenError extends KilnError {}

/** The deployment was asked to stop: its workflow rolls back and records it `cancelled`. */
export class DeploymentCancelledError extends KilnError {}

/** The compute provider could not launch the stack (unknown artifact, no capacity, ...). */
export class LaunchFailedError extends KilnError {}

/**
 * The spec's artifact has no image to launch yet: no available image of its family is tagged with its
 * version (the bake pipeline is slower than the push), or the image is still being created. Nothing was
 * launched. The deploy workflow retries it on a bounded schedule, then rolls back with its message.
 */
export class ArtifactNotReadyError extends KilnError {}

/** A stack's instances were still there when the wait for their termination ended. */
export class StackNotTerminatedError extends KilnError {}

/** A state transition the domain forbids, e.g. making a decommissioned stack live. */
export class InvalidTransitionError extends KilnError {}
