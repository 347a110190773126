/**
 * Named errors. Workflow tasks throw them so ASL Retry/Catch can match by `name`;
 * the HTTP edge maps them to problem+json statuses.
 */

export class KilnError extends Error {
  /** HTTP status the edge answers with when this error reaches it. */
  readonly status: number = 500;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class ValidationError extends KilnError {
  override readonly status = 400;
  readonly issues: { path: string; message: string }[];
  constructor(message: string, issues: { path: string; message: string }[] = []) {
    super(message);
    this.issues = issues;
  }
}

export class UnauthorizedError extends KilnError {
  override readonly status = 401;
}

export class ForbiddenError extends KilnError {
  override readonly status = 403;
}

export class NotFoundError extends KilnError {
  override readonly status = 404;
}

/** The caller's If-Match (or a concurrent writer) disagrees with the stored version. */
export class VersionConflictError extends KilnError {
  override readonly status = 409;
}

/** The request conflicts with the resource's state, e.g. cancelling a deployment that already ended. */
export class ConflictError extends KilnError {
  override readonly status = 409;
}

/** Another deployment holds the environment's lease. Retried by the workflow: queued requests wait. */
export class LeaseHeldError extends KilnError {
  override readonly status = 409;
}

/** The new stack did not pass its health check before its deadline. */
export class StackNotHealthyError extends KilnError {}

/** The deployment was asked to stop: its workflow rolls back and records it `cancelled`. */
export class DeploymentCancelledError extends KilnError {}

/** The compute provider could not launch the stack (unknown artifact, no capacity, ...). */
export class LaunchFailedError extends KilnError {}

/** A state transition the domain forbids, e.g. making a decommissioned stack live. */
export class InvalidTransitionError extends KilnError {}
