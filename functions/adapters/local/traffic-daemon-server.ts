import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { LOOPBACK } from './free-port.ts';
import { ProcessLock } from './process-lock.ts';
import { ProxyTraffic, type WakeHold } from './proxy-traffic.ts';
import {
  type RemoteCallError,
  STOPPING_ERROR_NAME,
  TRAFFIC_DAEMON_PROTOCOL,
  TRAFFIC_METHODS,
  type TrafficDaemonFiles,
  type TrafficDaemonStatus,
  type TrafficMethod,
  trafficDaemonFiles,
  type WakeTarget,
} from './traffic-daemon-protocol.ts';

export interface TrafficDaemonOptions {
  /** The data folder whose traffic layer this daemon serves (see `trafficDaemonFiles`). */
  dataDir: string;
  /** Interface the endpoints listen on; loopback unless told otherwise. */
  host?: string;
  /** Where the daemon reports what it does, one line at a time; silent without it. */
  log?: (line: string) => void;
}

/** A serving traffic daemon. */
export interface TrafficDaemon {
  readonly files: TrafficDaemonFiles;
  /** Settles once the daemon has stopped, whoever asked (the `stop` RPC or `stop()`). */
  readonly stopped: Promise<void>;
  /** Closes every endpoint gracefully (their state is kept for the next start), then the socket and the lock. */
  stop(): Promise<void>;
}

/** Another daemon holds the data folder's lock: it serves (or is starting to serve) that folder. */
export class TrafficDaemonRunningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrafficDaemonRunningError';
  }
}

/** A call the daemon does not run: unknown method, arguments not a JSON array, or the daemon is stopping. */
class RefusedCallError extends Error {
  readonly status: number;
  constructor(status: number, message: string, name = 'RefusedCallError') {
    super(message);
    this.name = name;
    this.status = status;
  }
}

/** Calls are tiny (a stack's instances at most); anything bigger is not from our client. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Serves one data folder's traffic: the ProxyTraffic engine (endpoints, registrations, weights, draining,
 * health probes, its state file) behind an RPC on a Unix socket. It takes the folder's lock first (or
 * throws `TrafficDaemonRunningError`), so a socket file it finds is stale, left by a daemon that was
 * killed: it is replaced. Then it restores the state file and only then answers, so no call races the
 * restore. A call runs to its end even when its caller goes away (a stack registered for a control
 * plane that is then killed is registered all the same).
 */
export async function serveTrafficDaemon(options: TrafficDaemonOptions): Promise<TrafficDaemon> {
  const log = options.log ?? (() => undefined);
  const host = options.host ?? LOOPBACK;
  const files = await trafficDaemonFiles(options.dataDir);
  const lock = ProcessLock.tryAcquire(files.lockFile);
  if (!lock) throw new TrafficDaemonRunningError(`another traffic daemon serves ${files.dataDir}`);
  try {
    await rm(files.socketPath, { force: true });
    const traffic = new ProxyTraffic({ host, stateFile: files.stateFile });
    // An endpoint that cannot reopen (its port was taken meanwhile) must not take the others down with it:
    // they keep serving, and the next ensureEndpoint for it tries again and reports why it cannot.
    await traffic.restore().catch((error: Error) => log(`restore incomplete: ${error.message}`));
    const status: TrafficDaemonStatus = {
      protocol: TRAFFIC_DAEMON_PROTOCOL,
      pid: process.pid,
      dataDir: files.dataDir,
      host,
      startedAt: new Date().toISOString(),
    };
    const daemon = new RunningDaemon(files, traffic, lock, status, log);
    await daemon.listen();
    log(`serving ${files.dataDir} on ${files.socketPath} (pid ${process.pid})`);
    return daemon;
  } catch (error) {
    lock.release();
    throw error;
  }
}

class RunningDaemon implements TrafficDaemon {
  readonly files: TrafficDaemonFiles;
  readonly stopped: Promise<void>;
  readonly #traffic: ProxyTraffic;
  readonly #lock: ProcessLock;
  readonly #status: TrafficDaemonStatus;
  readonly #log: (line: string) => void;
  readonly #server: Server;
  #stopping: Promise<void> | undefined;
  #endpointsClosed: Promise<void> | undefined;
  #markStopped: () => void = () => undefined;

  constructor(
    files: TrafficDaemonFiles,
    traffic: ProxyTraffic,
    lock: ProcessLock,
    status: TrafficDaemonStatus,
    log: (line: string) => void,
  ) {
    this.files = files;
    this.#traffic = traffic;
    this.#lock = lock;
    this.#status = status;
    this.#log = log;
    this.stopped = new Promise((resolve) => {
      this.#markStopped = resolve;
    });
    // No request timeout: a call may take as long as its work (closing a test endpoint waits for its
    // connections), and only this user can reach the socket, so there is no slow client to protect against.
    this.#server = createServer({ requestTimeout: 0 }, (req, res) => void this.#answer(req, res));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.files.socketPath, () => {
        this.#server.off('error', reject);
        // The umask of the daemon makes it 0600 from the start; this says so explicitly.
        chmod(this.files.socketPath, 0o600).then(resolve, reject);
      });
    });
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    await this.#closeEndpoints();
    // Closing the server removes the socket file; calls still running are cut (their callers are stopping).
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
    this.#lock.release();
    this.#log('stopped');
    this.#markStopped();
  }

  /** From the first call on, the daemon is stopping: no further call runs. */
  #closeEndpoints(): Promise<void> {
    if (!this.#endpointsClosed) {
      this.#log('stopping: closing every endpoint');
      this.#endpointsClosed = this.#traffic.close();
    }
    return this.#endpointsClosed;
  }

  async #answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let method = '?';
    try {
      method = (req.url ?? '').slice(1);
      const args = await readArguments(req);
      if (method === 'status') return reply(res, 200, this.#status);
      if (this.#endpointsClosed)
        throw new RefusedCallError(503, 'the traffic daemon is stopping', STOPPING_ERROR_NAME);
      if (method === 'stop') {
        // Endpoints first, then the answer, then the socket: the caller learns the pid to wait for.
        await this.#closeEndpoints();
        res.once('close', () => void this.stop());
        return reply(res, 200, { pid: process.pid });
      }
      if (method === 'setWakeHold') {
        const [target] = args as [WakeTarget | null];
        this.#traffic.setWakeHold(target ? wakeHoldOf(target) : undefined);
        this.#log(target ? `waking through ${target.url}, holding ${target.holdSeconds} s` : 'no waker');
        return reply(res, 204, undefined);
      }
      if (!isTrafficMethod(method))
        throw new RefusedCallError(404, `the traffic daemon has no method ${method}`);
      if (!QUIET_METHODS.has(method)) this.#log(describeCall(method, args));
      const run = this.#traffic[method] as (...args: unknown[]) => Promise<unknown>;
      const result = await run.apply(this.#traffic, args);
      reply(res, result === undefined ? 204 : 200, result);
    } catch (error) {
      const { name, message } = error as Error;
      this.#log(`${method} failed: ${name}: ${message}`);
      const body: RemoteCallError = { name: String(name), message: String(message) };
      reply(res, error instanceof RefusedCallError ? error.status : 500, body);
    }
  }
}

/**
 * A parked endpoint wakes its environment as an ALB wakes it: by invoking the waker function with the ALB's
 * request event, here through the embedded runtime's invoke URL for it (see infra/local/gateway.ts). The
 * event carries the host an ALB would have matched, `<environment>.<anything>`.
 */
function wakeHoldOf(target: WakeTarget): WakeHold {
  return {
    holdMs: target.holdSeconds * 1000,
    waker: async (environment, request) => {
      const event = {
        requestContext: {
          elb: { targetGroupArn: 'arn:aws:elasticloadbalancing:local:000000000000:targetgroup/kiln-waker/0' },
        },
        httpMethod: request.method,
        path: request.path.split('?')[0],
        queryStringParameters: {},
        headers: { host: `${environment}.localhost` },
        body: '',
        isBase64Encoded: false,
      };
      const response = await fetch(target.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(10_000),
      });
      await response.body?.cancel();
      if (!response.ok) throw new Error(`the waker answered ${response.status}`);
    },
  };
}

/** Reads, called often: not logged. */
const QUIET_METHODS: ReadonlySet<TrafficMethod> = new Set([
  'getWeights',
  'probeHealth',
  'lastRequestAt',
  'stackMetrics',
  'listRegistrations',
]);

function isTrafficMethod(method: string): method is TrafficMethod {
  return (TRAFFIC_METHODS as readonly string[]).includes(method);
}

async function readArguments(req: IncomingMessage): Promise<unknown[]> {
  if (req.method !== 'POST') throw new RefusedCallError(405, 'call the traffic daemon with POST /<method>');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new RefusedCallError(413, 'arguments larger than 1 MiB');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  let args: unknown;
  try {
    args = text === '' ? [] : JSON.parse(text);
  } catch {
    throw new RefusedCallError(400, 'arguments are not JSON');
  }
  if (!Array.isArray(args)) throw new RefusedCallError(400, 'arguments must be a JSON array');
  return args;
}

/** Answers unless the caller has gone: the call has run all the same, and its result is in the state. */
function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  if (status === 204) {
    res.writeHead(204).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** One log line per change: the method, the environment and the stack; instance lists stay out. */
function describeCall(method: TrafficMethod, args: unknown[]): string {
  const [environment, second, third] = args;
  switch (method) {
    case 'registerStack':
      return `${method} ${environment} ${second} (${Array.isArray(third) ? third.length : '?'} instances)`;
    case 'setWeights':
      return `${method} ${environment} ${JSON.stringify(second)}`;
    case 'startDrain':
      return `${method} ${environment} ${second} (${third} s)`;
    case 'finishDrain':
      return `${method} ${environment} ${second}${(third as { cutOff?: boolean } | undefined)?.cutOff ? ' (cut off)' : ''}`;
    case 'testEndpoint':
      return `${method} ${environment} ${second}`;
    default:
      return `${method} ${environment}`;
  }
}
