import { ApiProblemError, KilnUnreachableError, type Problem } from './errors.ts';

/** A request about to be sent: what an Authorizer signs. */
export interface OutgoingRequest {
  method: string;
  url: URL;
  /** Lower-case names. */
  headers: Record<string, string>;
  body?: string;
}

/** Adds the caller's credentials to a request: the headers to send with it (see auth.ts). */
export type Authorizer = (request: OutgoingRequest) => Promise<Record<string, string>>;

/** Kiln's REST API, one call at a time; every answer is JSON. */
export interface KilnClient {
  /** The base URL every path is relative to. */
  readonly baseUrl: string;
  /**
   * Sends `method path` (query and JSON body optional) and answers the parsed body; throws ApiProblemError
   * for an error answer and KilnUnreachableError when there is none.
   */
  send<T>(
    method: string,
    path: string,
    options?: { query?: Record<string, string>; body?: unknown },
  ): Promise<T>;
}

export function kilnClient(baseUrl: string, authorize: Authorizer): KilnClient {
  // `https://…/prod` and `https://…/prod/` alike: paths are appended under the stage.
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return {
    baseUrl,
    async send<T>(
      method: string,
      path: string,
      options: { query?: Record<string, string>; body?: unknown } = {},
    ): Promise<T> {
      const url = new URL(path.replace(/^\//, ''), base);
      // %20, not URLSearchParams' `+`, for a space: SigV4's canonical query reads `+` as itself.
      url.search = Object.entries(options.query ?? {})
        .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
        .join('&');
      const request: OutgoingRequest = { method, url, headers: { accept: 'application/json' } };
      if (options.body !== undefined) {
        request.body = JSON.stringify(options.body);
        request.headers['content-type'] = 'application/json';
      }
      const headers = { ...request.headers, ...(await authorize(request)) };
      let response: Response;
      try {
        response = await fetch(url, { method, headers, body: request.body ?? null });
      } catch (error) {
        throw new KilnUnreachableError(baseUrl, { cause: error });
      }
      const text = await response.text();
      if (!response.ok) throw new ApiProblemError(problemOf(response, text));
      return (text ? JSON.parse(text) : {}) as T;
    },
  };
}

/**
 * The problem an error answer carries. An answer that is not problem+json (a proxy's HTML page, API
 * Gateway's `{"message": …}`) still becomes a problem: its status, and its message or first line.
 */
function problemOf(response: Response, text: string): Problem {
  let parsed: (Partial<Problem> & { message?: string }) | undefined;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON: its first line is the detail.
  }
  const detail = parsed ? (parsed.detail ?? parsed.message) : text.split('\n')[0]?.trim() || undefined;
  return {
    ...parsed,
    title: parsed?.title ?? (response.statusText || 'Error'),
    status: parsed?.status ?? response.status,
    ...(detail ? { detail } : {}),
  };
}
