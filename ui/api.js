import { AwsClient } from 'aws4fetch';

/**
 * How the dashboard reaches the Kiln API: with the person's bearer token (embedded Kiln, `npm start`) or
 * with their AWS credentials, each request signed with SigV4 for `execute-api` (Kiln on AWS, where API
 * Gateway checks IAM). The credentials live in the tab's sessionStorage only: never in the URL, never
 * sent anywhere but the API, gone when the tab closes.
 *
 * @typedef {{ kind: 'token', token: string }} TokenCredentials
 * @typedef {{ kind: 'aws', accessKeyId: string, secretAccessKey: string, sessionToken?: string, region: string }} AwsCredentials
 * @typedef {TokenCredentials | AwsCredentials} Credentials
 */

const STORAGE_KEY = 'kiln.credentials';

/** An answer other than 2xx: the RFC 9457 problem's title and detail, as the API gave them. */
class ApiError extends Error {
  /**
   * @param {number} status
   * @param {{ title?: string, detail?: string } | undefined} problem
   */
  constructor(status, problem) {
    super(
      problem?.detail
        ? `${problem.title ?? status}: ${problem.detail}`
        : (problem?.title ?? `HTTP ${status}`),
    );
    this.name = 'ApiError';
    this.status = status;
  }
}

/** @param {Storage} storage @returns {Credentials | undefined} */
export function savedCredentials(storage) {
  try {
    const saved = JSON.parse(storage.getItem(STORAGE_KEY) ?? 'null');
    return saved?.kind === 'token' || saved?.kind === 'aws' ? saved : undefined;
  } catch {
    return undefined;
  }
}

/** @param {Storage} storage @param {Credentials} credentials */
export function saveCredentials(storage, credentials) {
  storage.setItem(STORAGE_KEY, JSON.stringify(credentials));
}

/** @param {Storage} storage */
export function forgetCredentials(storage) {
  storage.removeItem(STORAGE_KEY);
}

/** The region of an API Gateway hostname (`<id>.execute-api.<region>.amazonaws.com`), or ''. @param {string} hostname */
export function regionOfHost(hostname) {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(hostname)?.[1] ?? '';
}

/**
 * A client of the Kiln API whose root is `base` (`http://127.0.0.1:3000/`, or an API Gateway stage URL
 * ending in `/`). `request` answers the parsed JSON body, or throws ApiError.
 *
 * @param {string | URL} base
 * @param {Credentials} credentials
 */
export function kilnApi(base, credentials) {
  const signer =
    credentials.kind === 'aws'
      ? new AwsClient({
          accessKeyId: credentials.accessKeyId,
          secretAccessKey: credentials.secretAccessKey,
          ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
          service: 'execute-api',
          region: credentials.region,
        })
      : undefined;
  /**
   * @param {'GET' | 'POST'} method
   * @param {string} path the API path, without the leading slash: `environments/shop-dev`
   * @param {unknown} [body]
   */
  async function request(method, path, body) {
    const url = new URL(path, base);
    /** @type {Record<string, string>} */
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
    const response = signer
      ? await signer.fetch(url, init)
      : await fetch(url, {
          ...init,
          headers: {
            ...headers,
            authorization: `Bearer ${/** @type {TokenCredentials} */ (credentials).token}`,
          },
        });
    const text = await response.text();
    const answer = text ? JSON.parse(text) : undefined;
    if (!response.ok) throw new ApiError(response.status, answer);
    return answer;
  }
  return {
    /** @param {string} path */
    get: (path) => request('GET', path),
    /** @param {string} path @param {unknown} body */
    post: (path, body) => request('POST', path, body),
  };
}
