import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const MAIN = resolve(import.meta.dirname, '../../infra/local/main.ts');

/** The token the test runtime accepts, acting for team `platform`; `other-token` acts for team `other`. */
export const TOKEN = 'test-token';
export const OTHER_TEAM_TOKEN = 'other-token';
/** An approver of team `platform` (person `approver`) in the in-process test Kiln (embedded-kiln.ts). */
export const APPROVER_TOKEN = 'approver-token';
/** A freeze-manager of team `platform` (person `guard`). */
export const FREEZE_MANAGER_TOKEN = 'freeze-manager-token';
/** KILN_TOKENS of the test runtimes: the tokens above. */
export const TEST_TOKENS = `${TOKEN}=platform,${OTHER_TEAM_TOKEN}=other,${APPROVER_TOKEN}=platform:approver:approver,${FREEZE_MANAGER_TOKEN}=platform:guard:freeze-manager`;

/** Embedded Kiln started the way `npm start` starts it: a child process, reached only over HTTP. */
export interface KilnProcess {
  apiUrl: string;
  dataDir: string;
  child: ChildProcess;
  /** All Kiln has printed so far. */
  output(): string;
  /** SIGTERM and wait for a clean exit; returns the exit code. */
  stop(): Promise<number | null>;
}

export async function startKilnProcess(
  dataDir?: string,
  env: Record<string, string> = {},
): Promise<KilnProcess> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'kiln-e2e-')));
  const child = spawn(process.execPath, [MAIN], {
    env: {
      ...process.env,
      KILN_DATA_DIR: dir,
      KILN_API_PORT: '0',
      KILN_TOKENS: TEST_TOKENS,
      POWERTOOLS_LOG_LEVEL: 'WARN',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Everything Kiln prints, stdout and stderr interleaved, for tests that inspect its logs.
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const apiUrl = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`Kiln did not start within 30 s:\n${output}`)), 30_000);
    const onData = () => {
      const match = /Kiln API listening on (\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        resolvePromise(match[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Kiln exited with ${code} before listening:\n${output}`));
    });
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    apiUrl,
    dataDir: dir,
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export async function removeDataDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are inspected field by field
  body: any;
}

/** One API call as a user would make it with curl. */
export async function call(
  kiln: Pick<KilnProcess, 'apiUrl'>,
  method: string,
  path: string,
  options: { body?: unknown; rawBody?: string; token?: string | null; headers?: Record<string, string> } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? TOKEN : options.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const response = await fetch(`${kiln.apiUrl}${path}`, { method, headers, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
}

/** GET an environment endpoint's `/` and return the body text (or the error). */
export async function fetchText(url: string): Promise<string> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return await response.text();
  } catch (error) {
    return `error: ${(error as Error).message}`;
  }
}

/** Polls until `check` returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** The steps every blue/green deployment replacing a live stack records (with its drain and decommission). */
export const BLUE_GREEN_STEPS = [
  'AcquireLease',
  'ProvisionStack',
  'WaitUntilHealthy',
  'CutOver',
  'FinishDeployment',
];

/** Waits until a deployment reaches a terminal status and returns it. */
export async function awaitDeployment(
  kiln: Pick<KilnProcess, 'apiUrl'>,
  environment: string,
  id: string,
  timeoutMs = 90_000,
) {
  return eventually(
    `deployment ${id} to finish`,
    async () => {
      const response = await call(kiln, 'GET', `/environments/${environment}/deployments/${id}`);
      return ['queued', 'awaiting_approval', 'running'].includes(response.body?.status)
        ? undefined
        : response.body;
    },
    timeoutMs,
  );
}

/** Waits until the deployment waits for an approval; answers it as the API shows it then. */
export async function awaitApprovalRequest(
  kiln: Pick<KilnProcess, 'apiUrl'>,
  environment: string,
  id: string,
  token: string = TOKEN,
) {
  return eventually(`deployment ${id} to ask for approval`, async () => {
    const deployment = (await call(kiln, 'GET', `/environments/${environment}/deployments/${id}`, { token }))
      .body;
    return deployment.status === 'awaiting_approval' ? deployment : undefined;
  });
}

/**
 * Asks for a change above the risk threshold in any tier (the quick spec at `version` with 50 instances)
 * and waits until it waits for an approval; answers its deployment id.
 */
export async function requestRiskyChange(
  kiln: Pick<KilnProcess, 'apiUrl'>,
  environment: string,
  version: string,
) {
  const body = quickEnvironmentBody(version);
  const put = await call(kiln, 'PUT', `/environments/${environment}`, {
    body: { ...body, spec: { ...body.spec, capacity: 50 } },
  });
  assert.ok(put.status < 300, JSON.stringify(put.body));
  await awaitApprovalRequest(kiln, environment, put.body.deploymentId);
  return put.body.deploymentId as string;
}

/**
 * For a deployment the risk policy makes wait (a prod one, by default): waits until it asks for an
 * approval, then gives it as APPROVER_TOKEN's person (not the one who asked: two people).
 */
export async function approveWhenAsked(kiln: Pick<KilnProcess, 'apiUrl'>, environment: string, id: string) {
  await awaitApprovalRequest(kiln, environment, id);
  const path = `/environments/${environment}/deployments/${id}/approve`;
  const approved = await call(kiln, 'POST', path, { token: APPROVER_TOKEN, body: {} });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
}

/**
 * Process ids of running processes started for a stack, found by the KILN_STACK_ID every instance
 * carries in its environment (Linux /proc).
 */
export async function processesOfStack(stackId: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = await readFile(`/proc/${entry}/environ`, 'utf8');
      if (environ.split('\0').includes(`KILN_STACK_ID=${stackId}`)) pids.push(Number(entry));
    } catch {
      // The process exited while we looked, or is not ours to read.
    }
  }
  return pids;
}

/** A PUT body for the sample app. */
export function environmentBody(
  version: string,
  overrides: { env?: Record<string, string>; capacity?: number; deadlineSeconds?: number } = {},
) {
  return {
    team: 'platform',
    tier: 'dev',
    spec: {
      artifact: 'sample-app',
      version,
      capacity: overrides.capacity ?? 2,
      env: overrides.env ?? {},
      healthCheck: {
        path: '/health',
        intervalSeconds: 1,
        healthyThreshold: 2,
        timeoutSeconds: 1,
        deadlineSeconds: overrides.deadlineSeconds ?? 20,
      },
      strategy: { type: 'blue-green' },
      drainSeconds: 1,
    },
  };
}

/** A PUT body that deploys fast: one instance, healthy after one probe, nothing to drain. */
export function quickEnvironmentBody(version: string) {
  const body = environmentBody(version, { capacity: 1, deadlineSeconds: 20 });
  body.spec.healthCheck.healthyThreshold = 1;
  body.spec.drainSeconds = 0;
  return body;
}

/**
 * quickEnvironmentBody as a canary: two judged steps of 3 s (20 %, then 50 %; at 50 req/s the first
 * gives the new stack about 30 requests), then the cutover; at most 5 % errors, judged from 10 requests.
 */
export function quickCanaryBody(version: string, env: Record<string, string> = {}) {
  const body = quickEnvironmentBody(version);
  const strategy = {
    type: 'canary',
    steps: [
      { weight: 20, bakeSeconds: 3 },
      { weight: 50, bakeSeconds: 3 },
      { weight: 100, bakeSeconds: 0 },
    ],
    analysis: { maxErrorRate: 0.05, minRequests: 10 },
  };
  return { ...body, spec: { ...body.spec, env, strategy } };
}
