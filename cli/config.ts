import { API_HOST, DEFAULT_API_PORT, DEV_TOKEN } from '../infra/local/config.ts';
import { executeApiRegionOf } from './auth.ts';
import { UsageError } from './errors.ts';

/** How the CLI proves who calls: a bearer token (embedded Kiln) or SigV4 (API Gateway's IAM auth). */
export const AUTH_MODES = ['token', 'sigv4'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

/** Where the CLI sends its requests and as whom, read once from the environment and the global options. */
export type CliConfig =
  | { url: string; auth: 'token'; token: string }
  | { url: string; auth: 'sigv4'; region: string };

/** The URL `npm start` prints with its default port. */
export const DEFAULT_URL = `http://${API_HOST}:${DEFAULT_API_PORT}`;

/**
 * KILN_URL (or `--url`), default the embedded Kiln; KILN_AUTH (or `--auth`), default `sigv4` for an
 * API Gateway host and `token` otherwise; KILN_TOKEN, default the embedded dev token; for SigV4 the
 * region from the API Gateway host, else AWS_REGION (or AWS_DEFAULT_REGION).
 */
export function readCliConfig(
  env: NodeJS.ProcessEnv,
  options: { url?: string; auth?: AuthMode } = {},
): Readonly<CliConfig> {
  const url = options.url ?? env.KILN_URL ?? DEFAULT_URL;
  if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
    throw new UsageError(`KILN_URL must be an http(s) URL, not ${url}`);
  }
  const auth =
    options.auth ?? authMode(env.KILN_AUTH) ?? (executeApiRegionOf(new URL(url)) ? 'sigv4' : 'token');
  if (auth === 'token') return Object.freeze({ url, auth, token: env.KILN_TOKEN ?? DEV_TOKEN });
  const region = executeApiRegionOf(new URL(url)) ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new UsageError(`set AWS_REGION: SigV4 needs the region of ${url}`);
  return Object.freeze({ url, auth, region });
}

function authMode(value: string | undefined): AuthMode | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(AUTH_MODES as readonly string[]).includes(value)) {
    throw new UsageError(`KILN_AUTH must be ${AUTH_MODES.join(' or ')}, not ${value}`);
  }
  return value as AuthMode;
}
