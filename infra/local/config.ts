import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { type Caller, PERSON_PATTERN, ROLES, rolesNamed } from '../../functions/core/caller.ts';

/** Configuration of the embedded runtime, read once from the environment (see README "Configuration"). */
export interface LocalConfig {
  /** KILN_PROVIDER: `local` (everything embedded) or `aws` (hybrid: real table, EC2 and ALB). */
  provider: 'local' | 'aws';
  /** Where state lives between runs: DynamoDB data, instances, endpoints, running workflows, logs. */
  dataDir: string;
  host: string;
  /** API port; 0 picks a free one (the chosen URL is printed). */
  apiPort: number;
  /** Bearer token → the person, team and roles it stands for. */
  tokens: ReadonlyMap<string, TokenHolder>;
  tableName: string;
  /** Folder of runnable artifacts (each `<name>/server.ts`), the embedded stand-in for AMIs. */
  artifactsDir: string;
  /** KILN_HOOKS_DIR: the embedded Lambda's functions (each `<name>.ts` exporting `handler(event)`), the stand-in for hook functions. */
  hooksDir: string;
  /** KILN_EVENT_WEBHOOKS: URLs every lifecycle event is POSTed to (embedded API destinations), at most 5. */
  eventWebhooks: readonly string[];
  /** KILN_GITHUB_WEBHOOK_SECRET: the secret GitHub signs webhook deliveries with (X-Hub-Signature-256). */
  githubWebhookSecret: string;
  /**
   * KILN_UPKEEP_PERIOD_SECONDS: how often the idle sweep, the orphan reaper and the drift check run
   * (every schedule entry point); unset, each keeps its manifest schedule (every 5 minutes).
   */
  upkeepPeriodSeconds?: number;
  /** KILN_WAKE_HOLD_SECONDS: how long an asleep environment's endpoint holds a request while it wakes (default 60). */
  wakeHoldSeconds: number;
  /**
   * KILN_APPROVAL_TIMEOUT_SECONDS: how long a deployment waits for an approval before it expires; unset,
   * the deploy workflow's own 24 hours (the AwaitApproval state's TimeoutSeconds, as on AWS).
   */
  approvalTimeoutSeconds?: number;
}

const PROJECT_ROOT = resolve(import.meta.dirname, '../..');

/** The embedded API's host: loopback only. */
export const API_HOST = '127.0.0.1';

/** The port `npm start` listens on unless KILN_API_PORT says otherwise. */
export const DEFAULT_API_PORT = 3000;

/** The bearer token of `dev`, a member of team `platform`: the one `npm start` accepts by default. */
export const DEV_TOKEN = 'kiln-dev-token';

/** The tokens `npm start` accepts unless KILN_TOKENS says otherwise: DEV_TOKEN only. */
export const DEFAULT_TOKENS = `${DEV_TOKEN}=platform:dev`;

/** The webhook secret `npm start` checks GitHub signatures with unless KILN_GITHUB_WEBHOOK_SECRET says otherwise. */
export const DEFAULT_GITHUB_WEBHOOK_SECRET = 'kiln-dev-webhook-secret';

export function readLocalConfig(env: NodeJS.ProcessEnv = process.env): Readonly<LocalConfig> {
  return Object.freeze({
    provider: provider(env.KILN_PROVIDER ?? 'local'),
    dataDir: resolve(env.KILN_DATA_DIR ?? resolve(PROJECT_ROOT, '.kiln')),
    host: API_HOST,
    apiPort: port(env.KILN_API_PORT ?? String(DEFAULT_API_PORT)),
    tokens: parseTokens(env.KILN_TOKENS ?? DEFAULT_TOKENS),
    tableName: env.KILN_TABLE_NAME ?? 'kiln',
    artifactsDir: resolve(env.KILN_ARTIFACTS_DIR ?? resolve(PROJECT_ROOT, 'infra/local/artifacts')),
    hooksDir: resolve(env.KILN_HOOKS_DIR ?? resolve(PROJECT_ROOT, 'infra/local/hooks')),
    eventWebhooks: Object.freeze(webhooks(env.KILN_EVENT_WEBHOOKS ?? '')),
    githubWebhookSecret: webhookSecret(env.KILN_GITHUB_WEBHOOK_SECRET ?? DEFAULT_GITHUB_WEBHOOK_SECRET),
    ...(env.KILN_UPKEEP_PERIOD_SECONDS
      ? { upkeepPeriodSeconds: seconds('KILN_UPKEEP_PERIOD_SECONDS', env.KILN_UPKEEP_PERIOD_SECONDS) }
      : {}),
    wakeHoldSeconds: seconds('KILN_WAKE_HOLD_SECONDS', env.KILN_WAKE_HOLD_SECONDS ?? '60'),
    ...(env.KILN_APPROVAL_TIMEOUT_SECONDS
      ? {
          approvalTimeoutSeconds: seconds('KILN_APPROVAL_TIMEOUT_SECONDS', env.KILN_APPROVAL_TIMEOUT_SECONDS),
        }
      : {}),
  });
}

/** Comma-separated http(s) URLs; a rule takes at most 5 targets, as on EventBridge. */
export function webhooks(value: string): string[] {
  const urls = value
    .split(',')
    .map((url) => url.trim())
    .filter(Boolean);
  for (const url of urls) {
    if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol)) {
      throw new Error(`KILN_EVENT_WEBHOOKS entry "${url}" is not an http(s) URL`);
    }
  }
  if (urls.length > 5) throw new Error(`KILN_EVENT_WEBHOOKS names ${urls.length} URLs: at most 5`);
  return urls;
}

/** What a bearer token stands for: a person acting for a team, with their roles in it. */
export type TokenHolder = Omit<Caller, 'principal'>;

/**
 * `token=team:person[:role+role],...` → map; the older `token=team` gives the person `token-<fingerprint>`
 * (12 hex digits of the token's SHA-256: distinct tokens stay distinct people in the records, and the
 * token itself is never recorded). A malformed entry stops startup with the reason, naming the entry by
 * its position and never showing the token.
 */
export function parseTokens(value: string): ReadonlyMap<string, TokenHolder> {
  const tokens = new Map<string, TokenHolder>();
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const [index, entry] of entries.entries()) {
    const refuse = (reason: string) =>
      new Error(
        `KILN_TOKENS entry ${index + 1} ${reason}: write token=team:person[:role+role] (team: lowercase letters, digits, dashes; person: 2-64 of letters, digits and +=,.@_-; roles: ${ROLES.join(', ')})`,
      );
    const [token, holder, ...rest] = entry.split('=');
    if (!token || /\s/.test(token) || holder === undefined || rest.length > 0) throw refuse('is not token=…');
    if (tokens.has(token)) throw refuse('repeats an earlier token');
    const [team = '', person = `token-${fingerprint(token)}`, roles, ...extra] = holder.split(':');
    if (!/^[a-z0-9-]{1,64}$/.test(team)) throw refuse('names no valid team');
    if (!PERSON_PATTERN.test(person)) throw refuse(`for team ${team} names no valid person`);
    const held = rolesNamed(roles === undefined ? [] : roles.split('+'));
    if (extra.length > 0 || !held) {
      throw refuse(`for ${person} of team ${team} has roles that are not ${ROLES.join(' and ')}, each once`);
    }
    tokens.set(token, { team, person, roles: held });
  }
  if (tokens.size === 0) throw new Error('KILN_TOKENS names no token: nobody could call the API');
  return tokens;
}

/** A token's short fingerprint: names a `token=team` caller without revealing the token. */
function fingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

/** An empty secret would make every signature check meaningless: refused at startup. */
function webhookSecret(value: string): string {
  if (value === '')
    throw new Error('KILN_GITHUB_WEBHOOK_SECRET is empty: set it to the secret GitHub signs with');
  return value;
}

function provider(value: string): LocalConfig['provider'] {
  if (value !== 'local' && value !== 'aws')
    throw new Error(`KILN_PROVIDER must be local or aws, not ${value}`);
  return value;
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`KILN_API_PORT must be a port number, not ${value}`);
  return n;
}

/** A whole number of seconds from 1 to a day. */
function seconds(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 86_400)
    throw new Error(`${name} must be a whole number of seconds from 1 to 86400, not ${value}`);
  return n;
}
