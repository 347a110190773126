/** An RFC 9457 problem, as Kiln's API answers every error (functions/shared/http.ts). */
export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  /** A validation error's issues, one per invalid field. */
  errors?: { path: string; message: string }[];
}

/** Kiln refused the request: its problem document says why. */
export class ApiProblemError extends Error {
  readonly problem: Problem;

  constructor(problem: Problem) {
    super(problem.detail ? `${problem.title}: ${problem.detail}` : problem.title);
    this.name = 'ApiProblemError';
    this.problem = problem;
  }
}

/** No answer from Kiln (refused connection, unknown host, TLS): nothing is known to have happened. */
export class KilnUnreachableError extends Error {
  constructor(url: string, options: { cause: unknown }) {
    // fetch's TypeError says only "fetch failed"; its cause names what failed (ECONNREFUSED, ENOTFOUND…).
    const failure = (options.cause as { cause?: { code?: string; message?: string } }).cause;
    const reason = failure?.code ?? failure?.message ?? 'no answer';
    super(`could not reach Kiln at ${url} (${reason}): is it running? (KILN_URL, npm start)`, options);
    this.name = 'KilnUnreachableError';
  }
}

/** The command line, or a file it names, is wrong: nothing was sent to Kiln. */
export class UsageError extends Error {
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'UsageError';
  }
}
