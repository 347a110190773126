import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, open, readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TrafficWeights } from '../../core/blue-green.ts';
import type { TargetHealth } from '../../core/health.ts';
import type { StackMetrics, Traffic, TrafficRegistrations } from '../../core/ports/traffic.ts';
import type { HealthCheck, Instance } from '../../core/types.ts';
import { LOOPBACK } from './free-port.ts';
import {
  ALREADY_SERVED_EXIT_CODE,
  type DaemonMethod,
  type RemoteCallError,
  STOPPING_ERROR_NAME,
  TRAFFIC_DAEMON_PROTOCOL,
  type TrafficDaemonFiles,
  type TrafficDaemonStatus,
  type TrafficMethod,
  trafficDaemonFiles,
  type WakeTarget,
} from './traffic-daemon-protocol.ts';

export interface DaemonTrafficOptions {
  /** The data folder whose traffic layer the daemon serves; its state, socket, lock and log live there. */
  dataDir: string;
  /** The daemon's entry point (`infra/local/traffic-daemon.ts`), run with this process's Node when needed. */
  daemonEntry: string;
  /**
   * Interface the endpoints listen on (loopback unless told otherwise). Given to a daemon this client
   * starts; a running daemon listening elsewhere is replaced.
   */
  host?: string;
  /** How long starting a daemon may take until it answers (it restores every endpoint first). */
  startTimeoutMs?: number;
}

/** No traffic daemon answers for the data folder and none could be started, or it went away twice in a row. */
export class TrafficDaemonUnavailableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TrafficDaemonUnavailableError';
  }
}

const DEFAULT_START_TIMEOUT_MS = 15_000;
/** A daemon that is up answers `status` at once; one that does not within this is hung, not slow. */
const STATUS_TIMEOUT_MS = 5000;
const POLL_MS = 50;
/**
 * How long a daemon asked to stop may take to exit after answering before it is killed: it has closed
 * its endpoints already (each given a second for open connections), only its socket and lock remain.
 */
const EXIT_GRACE_MS = 5000;

/**
 * Embedded traffic served by a separate daemon process (`infra/local/traffic-daemon.ts`), so that the data
 * plane outlives the control plane as an ALB outlives a Lambda: a crash or restart of the control plane
 * costs no request. Every Traffic method is an RPC to the daemon of the data folder. Create with
 * `connect()`, which reuses the running daemon or starts one. If the daemon is found gone mid-run
 * (killed), the call starts it again (it restores endpoints, registrations and weights from its state file)
 * and is retried once: every Traffic method is idempotent. No call has a timeout: none waits for anything
 * (a drain is started and finished by separate calls, the workflow waiting in between).
 *
 * `stop()` stops the daemon and every endpoint (Ctrl-C); `detach()` leaves it serving (a control plane
 * going away without taking traffic down).
 */
export class DaemonTraffic implements Traffic {
  readonly files: TrafficDaemonFiles;
  readonly #daemonEntry: string;
  readonly #host: string;
  readonly #startTimeoutMs: number;
  /** The start in progress, shared by every call that found the daemon gone. */
  #starting: Promise<TrafficDaemonStatus> | undefined;
  #closed: 'stopped' | 'detached' | undefined;
  /** Who wakes parked endpoints: told to every daemon this client (re)starts. */
  #wakeTarget: WakeTarget | undefined;
  #foundRunning = false;

  private constructor(files: TrafficDaemonFiles, options: DaemonTrafficOptions) {
    this.files = files;
    this.#daemonEntry = options.daemonEntry;
    this.#host = options.host ?? LOOPBACK;
    this.#startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  }

  /**
   * A client of the data folder's traffic daemon, once that daemon answers: the running one, or one
   * started now (detached, logging to `logs/traffic-daemon.log`). A running daemon that speaks another
   * protocol (an older Kiln) or listens on another interface is stopped and replaced.
   */
  static async connect(options: DaemonTrafficOptions): Promise<DaemonTraffic> {
    const client = new DaemonTraffic(await trafficDaemonFiles(options.dataDir), options);
    const running = await client.#statusIfRunning();
    if (running && client.#wants(running)) {
      client.#foundRunning = true;
      return client;
    }
    if (running) await client.#stopDaemon();
    await client.#start();
    return client;
  }

  /**
   * Whether `connect` found the daemon already serving (false: it started it). A control plane that fails
   * to start can tell from it whether stopping the daemon would take down traffic that was flowing before.
   */
  get foundRunning(): boolean {
    return this.#foundRunning;
  }

  /** Who serves the data folder: its pid, protocol, interface, start time. */
  status(): Promise<TrafficDaemonStatus> {
    return this.#call('status', []) as Promise<TrafficDaemonStatus>;
  }

  ensureEndpoint(environment: string): Promise<string> {
    return this.#call('ensureEndpoint', [environment]) as Promise<string>;
  }

  async registerStack(
    environment: string,
    stackId: string,
    instances: Instance[],
    healthCheck: HealthCheck,
  ): Promise<void> {
    await this.#call('registerStack', [environment, stackId, instances, healthCheck]);
  }

  async setWeights(environment: string, weights: TrafficWeights): Promise<void> {
    await this.#call('setWeights', [environment, weights]);
  }

  getWeights(environment: string): Promise<TrafficWeights> {
    return this.#call('getWeights', [environment]) as Promise<TrafficWeights>;
  }

  probeHealth(environment: string, stackId: string): Promise<TargetHealth[]> {
    return this.#call('probeHealth', [environment, stackId]) as Promise<TargetHealth[]>;
  }

  async startDrain(environment: string, stackId: string, drainSeconds: number): Promise<void> {
    await this.#call('startDrain', [environment, stackId, drainSeconds]);
  }

  async finishDrain(
    environment: string,
    stackId: string,
    options: { cutOff?: boolean } = {},
  ): Promise<boolean> {
    return (await this.#call('finishDrain', [environment, stackId, options])) as boolean;
  }

  async removeEndpoint(environment: string): Promise<void> {
    await this.#call('removeEndpoint', [environment]);
  }

  listRegistrations(): Promise<TrafficRegistrations[]> {
    return this.#call('listRegistrations', []) as Promise<TrafficRegistrations[]>;
  }

  /** Makes a request to a parked endpoint wake its environment through `target` (the embedded waker's invoke URL). */
  async setWakeHold(target: WakeTarget): Promise<void> {
    this.#wakeTarget = target;
    await this.#call('setWakeHold', [target]);
  }

  async parkEndpoint(environment: string): Promise<void> {
    await this.#call('parkEndpoint', [environment]);
  }

  async stackMetrics(environment: string, stackId: string, since: string): Promise<StackMetrics> {
    return (await this.#call('stackMetrics', [environment, stackId, since])) as StackMetrics;
  }

  testEndpoint(environment: string, stackId: string): Promise<string> {
    return this.#call('testEndpoint', [environment, stackId]) as Promise<string>;
  }

  async lastRequestAt(environment: string, since: string): Promise<string | undefined> {
    return (await this.#call('lastRequestAt', [environment, since])) as string | undefined;
  }

  /**
   * Stops the daemon: every endpoint closes gracefully (the state file keeps them, so the next `connect`
   * reopens them on the same ports), then it exits. Resolves once it has exited; nothing running is fine.
   * The client is unusable afterwards: calls still in flight fail instead of starting a new daemon.
   */
  async stop(): Promise<void> {
    this.#closed = 'stopped';
    await this.#stopDaemon();
  }

  /** Leaves the daemon serving, as a crash of this process would; the client is unusable afterwards. */
  detach(): void {
    this.#closed ??= 'detached';
  }

  async #call(method: TrafficMethod | 'status' | 'setWakeHold', args: unknown[]): Promise<unknown> {
    this.#assertOpen();
    try {
      return await callDaemon(this.files.socketPath, method, args);
    } catch (error) {
      if (!isDaemonGone(error)) throw error;
      if (this.#closed) throw this.#closedError();
      await this.#restart();
      try {
        return await callDaemon(this.files.socketPath, method, args);
      } catch (retryError) {
        if (!isDaemonGone(retryError)) throw retryError;
        throw new TrafficDaemonUnavailableError(
          `the traffic daemon of ${this.files.dataDir} went away twice during ${method}; see ${this.files.logFile}`,
          { cause: retryError },
        );
      }
    }
  }

  #assertOpen(): void {
    const closed = this.#closedError();
    if (closed) throw closed;
  }

  #closedError(): Error | undefined {
    if (!this.#closed) return undefined;
    return new TrafficDaemonUnavailableError(`this traffic client was ${this.#closed}`);
  }

  /** Starts the daemon again and tells it who wakes parked endpoints, as the one before knew. */
  #restart(): Promise<TrafficDaemonStatus> {
    const restart = async () => {
      const status = await this.#start();
      if (this.#wakeTarget) await callDaemon(this.files.socketPath, 'setWakeHold', [this.#wakeTarget]);
      return status;
    };
    this.#starting ??= restart().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  #wants(status: TrafficDaemonStatus): boolean {
    return status.protocol === TRAFFIC_DAEMON_PROTOCOL && status.host === this.#host;
  }

  /** The running daemon's status, or undefined when none answers (no socket, or a stale one). */
  async #statusIfRunning(): Promise<TrafficDaemonStatus | undefined> {
    try {
      return (await callDaemon(
        this.files.socketPath,
        'status',
        [],
        STATUS_TIMEOUT_MS,
      )) as TrafficDaemonStatus;
    } catch (error) {
      if (isDaemonGone(error)) return undefined;
      throw new TrafficDaemonUnavailableError(
        `the traffic daemon of ${this.files.dataDir} does not answer: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }

  /**
   * Starts a daemon and waits until one answers. A daemon started while another still holds the data
   * folder's lock (starting, or stopping) exits at once with ALREADY_SERVED_EXIT_CODE: then either that
   * one answers soon, or it has gone and another try takes over.
   */
  async #start(): Promise<TrafficDaemonStatus> {
    const deadline = Date.now() + this.#startTimeoutMs;
    let started = await this.#spawn();
    while (Date.now() < deadline) {
      const status = await this.#statusIfRunning();
      if (status) return status;
      const { child, logOffset } = started;
      if (child.exitCode === ALREADY_SERVED_EXIT_CODE) {
        started = await this.#spawn();
      } else if (child.exitCode !== null || child.signalCode !== null) {
        throw new TrafficDaemonUnavailableError(
          `the traffic daemon of ${this.files.dataDir} exited (${child.exitCode ?? child.signalCode}) before answering: ${await this.#reasonLogged(logOffset)} (see ${this.files.logFile})`,
        );
      }
      await sleep(POLL_MS);
    }
    throw new TrafficDaemonUnavailableError(
      `the traffic daemon of ${this.files.dataDir} did not answer within ${this.#startTimeoutMs / 1000} s (see ${this.files.logFile})`,
    );
  }

  /**
   * The daemon process: this process's Node, detached into its own session and process group (a Ctrl-C
   * meant for the control plane never reaches it), output appended to its log, not waited for.
   */
  async #spawn(): Promise<{ child: ChildProcess; logOffset: number }> {
    await mkdir(dirname(this.files.logFile), { recursive: true, mode: 0o700 });
    const log = await open(this.files.logFile, 'a', 0o600);
    try {
      const logOffset = (await log.stat()).size;
      const child = spawn(
        process.execPath,
        [this.#daemonEntry, '--data-dir', this.files.dataDir, '--host', this.#host],
        {
          detached: true,
          stdio: ['ignore', log.fd, log.fd],
          env: daemonEnvironment(),
        },
      );
      // A failure to spawn shows as an exit code; without a listener it would throw.
      child.on('error', () => undefined);
      child.unref();
      return { child, logOffset };
    } finally {
      await log.close();
    }
  }

  /** Asks the daemon to stop and waits until its process is gone (killed if it lingers). */
  async #stopDaemon(): Promise<void> {
    let pid: number;
    try {
      ({ pid } = (await callDaemon(this.files.socketPath, 'stop', [])) as { pid: number });
    } catch (error) {
      if (isDaemonGone(error)) return;
      throw error;
    }
    if (await exitedWithin(pid, EXIT_GRACE_MS)) return;
    signal(pid, 'SIGKILL');
    await exitedWithin(pid, EXIT_GRACE_MS);
  }

  /**
   * Why a daemon that failed to start exited, from what it logged: its own last line, or the message line
   * of an uncaught error (Node prints a stack and a version line after it).
   */
  async #reasonLogged(fromOffset: number): Promise<string> {
    const text = await readFile(this.files.logFile).catch(() => Buffer.alloc(0));
    const lines = text.subarray(fromOffset).toString('utf8').split('\n').filter(Boolean);
    const reason = lines.findLast((line) => /^\w*Error\b|traffic-daemon\[\d+\]/.test(line)) ?? lines.at(-1);
    return reason ?? 'nothing logged';
  }
}

/**
 * PATH, and TMPDIR so that the daemon finds the same fallback socket path as its client; nothing else of
 * the control plane's environment (configuration, credentials, NODE_OPTIONS) reaches the long-lived daemon.
 */
function daemonEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'TMPDIR']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return env;
}

/**
 * One RPC over a fresh connection. Without `timeoutMs` it waits as long as the call takes.
 * Rejects with the daemon's error under its own name and message, or with the transport's error.
 */
function callDaemon(
  socketPath: string,
  method: TrafficMethod | DaemonMethod,
  args: unknown[],
  timeoutMs?: number,
): Promise<unknown> {
  const payload = JSON.stringify(args);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path: `/${method}`,
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) {
            // The daemon went away mid-answer: as good as a reset connection.
            reject(
              Object.assign(new Error('the traffic daemon closed the connection'), { code: 'ECONNRESET' }),
            );
            return;
          }
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 204) resolve(undefined);
          else if (res.statusCode === 200) resolve(JSON.parse(text));
          else reject(remoteError(res.statusCode, text));
        });
      },
    );
    req.on('error', reject);
    if (timeoutMs !== undefined) {
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    }
    req.end(payload);
  });
}

/** The daemon's error with its own name and message, so that callers (and ASL Catch) see what it threw. */
function remoteError(status: number | undefined, text: string): Error {
  let body: Partial<RemoteCallError> = {};
  try {
    body = JSON.parse(text) as RemoteCallError;
  } catch {
    // Not one of our answers; described below by its status.
  }
  const error = new Error(body.message ?? `the traffic daemon answered ${status}: ${text.slice(0, 200)}`);
  error.name = body.name ?? 'Error';
  return error;
}

/**
 * Whether an RPC failed because no daemon is there: no socket file (ENOENT), a socket nobody listens
 * on (ECONNREFUSED), a daemon that died during the call (ECONNRESET, EPIPE), or one that is stopping
 * (another client stopped it) and will be gone in a moment.
 */
function isDaemonGone(error: unknown): boolean {
  const { code, name } = error as NodeJS.ErrnoException;
  if (name === STOPPING_ERROR_NAME) return true;
  return code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE';
}

async function exitedWithin(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS / 2);
  }
  return true;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}
