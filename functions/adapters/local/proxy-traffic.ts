import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import type { TrafficWeights } from '../../core/blue-green.ts';
import type { TargetHealth } from '../../core/health.ts';
import {
  type StackMetrics,
  TEST_STACK_HEADER,
  type Traffic,
  type TrafficRegistrations,
} from '../../core/ports/traffic.ts';
import type { HealthCheck, Instance } from '../../core/types.ts';
import { LOOPBACK } from './free-port.ts';
import { JsonStateFile } from './state-file.ts';

export interface ProxyTrafficOptions {
  /** Interface the endpoints listen on (and the host in their URLs); loopback unless told otherwise. */
  host?: string;
  /** Where endpoints, registrations and weights are recorded so that `restore()` can reopen them. */
  stateFile?: string;
}

/** What is remembered of a registered stack: its targets (an ALB target group) and its share of traffic. */
interface StackTargets {
  instances: Instance[];
  healthCheck: HealthCheck;
  weight: number;
}

interface StackRoute extends StackTargets {
  /** Round-robin cursor over `instances`. */
  nextInstance: number;
  /** Requests proxied to the stack and not yet answered; a drain finishes once it is 0. */
  inFlight: number;
  /** Its answered requests, oldest first, for stackMetrics (in memory: a canary judges minutes, not days). */
  answered: AnsweredRequest[];
}

/** One request a stack answered (or failed to). */
interface AnsweredRequest {
  /** When it was answered, epoch ms. */
  at: number;
  ms: number;
  /** Answered 5xx, or the stack could not be reached. */
  error: boolean;
}

/** Answered requests kept per stack: the newest are what a canary step judges. */
const MAX_ANSWERED = 100_000;

/** A port of the proxy: an environment's endpoint, or the test endpoint of one of its stacks. */
interface Listener {
  /** 0 until it first listens; then kept, so that its URL survives restarts. */
  port: number;
  /** Set from the moment it starts listening until it is closed. */
  listening?: Promise<Server>;
}

interface EnvironmentRoute extends Listener {
  stacks: Map<string, StackRoute>;
  /** Test endpoints by stack id: each reaches that stack only (see `testEndpoint`). */
  tests: Map<string, Listener>;
  /** Asleep: a request holds (see `parkEndpoint`) until a stack gets traffic. */
  parked?: boolean;
  /** When a request last reached the endpoint (epoch ms); kept in memory, saved with the next change. */
  lastRequestAt?: number;
  /** Held requests, each released (sent on) when a stack gets traffic, or answered 503 when it gives up. */
  held: Set<HeldRequest>;
  /** When the waker was last called for this environment (epoch ms). */
  wokenAt?: number;
}

interface HeldRequest {
  release(): void;
  giveUp(): void;
}

interface SavedRoute {
  port: number;
  stacks: Record<string, StackTargets>;
  parked?: boolean;
  lastRequestAt?: number;
  /** The ports of its stacks' test endpoints. */
  testPorts?: Record<string, number>;
}

interface TrafficState {
  environments: Record<string, SavedRoute>;
}

/** Wakes a sleeping environment: called when its parked endpoint receives a request. */
export type Waker = (environment: string, request: { method: string; path: string }) => Promise<void>;

/** How a parked endpoint holds requests while its environment wakes. */
export interface WakeHold {
  waker: Waker;
  /** How long a request is held before it is answered 503 with Retry-After. */
  holdMs: number;
}

/** Requests one parked endpoint holds at most; more are answered 503 at once. */
const MAX_HELD_REQUESTS = 1000;
/** A parked endpoint still holding requests calls the waker again this often (an earlier call may have failed). */
const REWAKE_MS = 10_000;
/** Retry-After, in seconds, of a request a parked endpoint gives up holding. */
const RETRY_AFTER_SECONDS = 10;

/** How long open connections get to finish when an endpoint closes before they are cut. */
const CLOSE_GRACE_MS = 1000;

/**
 * Embedded traffic: one reverse proxy (its own port) per environment, the analogue of an ALB listener
 * with one weighted target group per stack. A request goes to a stack picked at random by weight, then
 * to that stack's instances in turn; the response names the stack in `x-kiln-stack`. With a
 * `stateFile`, call `restore()` once at startup before anything else.
 */
export class ProxyTraffic implements Traffic {
  readonly #host: string;
  readonly #stateFile: JsonStateFile<TrafficState> | undefined;
  readonly #routes = new Map<string, EnvironmentRoute>();
  #wakeHold: WakeHold | undefined;
  // A fresh connection per proxied request: a pooled connection to an instance that has since exited
  // would fail requests that a retry cannot always save, and loopback connections are cheap.
  readonly #proxy = createProxyServer({ agent: new Agent({ keepAlive: false }) });

  constructor(options: ProxyTrafficOptions = {}) {
    this.#host = options.host ?? LOOPBACK;
    this.#stateFile = options.stateFile ? new JsonStateFile(options.stateFile) : undefined;
  }

  async ensureEndpoint(environment: string): Promise<string> {
    let route = this.#routes.get(environment);
    if (!route) {
      route = { port: 0, stacks: new Map(), tests: new Map(), held: new Set() };
      this.#routes.set(environment, route);
    }
    if (route.listening) {
      await route.listening;
    } else {
      await this.#open(environment, route);
      await this.#save();
    }
    return `http://${this.#host}:${route.port}`;
  }

  /** Opens the endpoint when needed: the embedded proxy has no target group apart from its listener. */
  async registerStack(
    environment: string,
    stackId: string,
    instances: Instance[],
    healthCheck: HealthCheck,
  ): Promise<void> {
    await this.ensureEndpoint(environment);
    const stacks = this.#stacksOf(environment);
    const targets = { instances: [...instances], healthCheck };
    const existing = stacks.get(stackId);
    if (existing) Object.assign(existing, targets);
    else stacks.set(stackId, { ...targets, weight: 0, nextInstance: 0, inFlight: 0, answered: [] });
    await this.#save();
  }

  /** Validates the whole split before applying any of it, so a bad request changes nothing. */
  async setWeights(environment: string, weights: TrafficWeights): Promise<void> {
    const stacks = this.#stacksOf(environment);
    const unknown = Object.keys(weights).filter((stackId) => !stacks.has(stackId));
    if (unknown.length > 0) {
      throw new Error(`cannot set weights in ${environment}: stack(s) not registered: ${unknown.join(', ')}`);
    }
    const invalid = Object.entries(weights).filter(([, weight]) => !(weight >= 0 && weight <= 100));
    if (invalid.length > 0) {
      throw new Error(
        `cannot set weights in ${environment}: weights must be 0–100, got ${JSON.stringify(weights)}`,
      );
    }
    for (const [stackId, weight] of Object.entries(weights)) {
      (stacks.get(stackId) as StackRoute).weight = weight;
    }
    const route = this.#routes.get(environment);
    const serving = Object.values(weights).some((weight) => weight > 0);
    if (route?.parked && serving) {
      route.parked = undefined;
      route.wokenAt = undefined;
    }
    await this.#save();
    if (route && serving) for (const request of [...route.held]) request.release();
  }

  /** Keeps (or opens) the endpoint, with no stack behind it, holding requests until a stack gets traffic. */
  async parkEndpoint(environment: string): Promise<void> {
    await this.ensureEndpoint(environment);
    const route = this.#routes.get(environment) as EnvironmentRoute;
    if (route.parked) return;
    route.parked = true;
    route.wokenAt = undefined;
    await this.#save();
  }

  async stackMetrics(environment: string, stackId: string, since: string): Promise<StackMetrics> {
    const from = Date.parse(since);
    const answered = (this.#stacksOf(environment).get(stackId)?.answered ?? []).filter((r) => r.at >= from);
    const latencies = answered.map((r) => r.ms).sort((a, b) => a - b);
    return {
      requests: answered.length,
      errors: answered.filter((r) => r.error).length,
      ...(latencies.length > 0
        ? {
            p99Ms: Math.round(
              latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)] as number,
            ),
          }
        : {}),
    };
  }

  async lastRequestAt(environment: string, since: string): Promise<string | undefined> {
    const last = this.#routes.get(environment)?.lastRequestAt;
    return last !== undefined && last > Date.parse(since) ? new Date(last).toISOString() : undefined;
  }

  /** Who wakes a parked endpoint's environment, and how long its requests are held; none: they get 503. */
  setWakeHold(hold: WakeHold | undefined): void {
    this.#wakeHold = hold;
    if (!hold) return;
    for (const [environment, route] of this.#routes) {
      if (route.parked && route.held.size > 0) this.#wake(environment, route, { method: 'GET', path: '/' });
    }
  }

  async getWeights(environment: string): Promise<TrafficWeights> {
    return Object.fromEntries(
      [...this.#stacksOf(environment)].map(([stackId, stack]) => [stackId, stack.weight]),
    );
  }

  /** Probes every target once, in parallel; an unknown stack has no targets. */
  async probeHealth(environment: string, stackId: string): Promise<TargetHealth[]> {
    const stack = this.#stacksOf(environment).get(stackId);
    if (!stack) return [];
    return Promise.all(stack.instances.map((instance) => probeInstance(instance, stack.healthCheck)));
  }

  /** Weight 0: new requests go to the other stacks; those in flight go on (the proxy honours no delay itself). */
  async startDrain(environment: string, stackId: string, _drainSeconds: number): Promise<void> {
    const stack = this.#stacksOf(environment).get(stackId);
    if (!stack || stack.weight === 0) return;
    stack.weight = 0;
    await this.#save();
  }

  /**
   * Forgets the stack once nothing is in flight to it (or at once with `cutOff`: requests in flight still
   * get their answers, as nothing cuts proxied connections) and closes its test endpoint.
   */
  async finishDrain(
    environment: string,
    stackId: string,
    options: { cutOff?: boolean } = {},
  ): Promise<boolean> {
    const stacks = this.#stacksOf(environment);
    const stack = stacks.get(stackId);
    if (stack && stack.inFlight > 0 && !options.cutOff) return false;
    const tests = this.#routes.get(environment)?.tests;
    const closing = tests?.get(stackId);
    if (!stack && !closing) return true;
    stacks.delete(stackId);
    tests?.delete(stackId);
    await this.#save();
    if (closing) await closeEndpoint(closing);
    return true;
  }

  /**
   * A port of its own that forwards to the stack only, whatever the weights, and only requests naming it in
   * TEST_STACK_HEADER (as the AWS test rule matches them). Its requests are not the environment's activity.
   */
  async testEndpoint(environment: string, stackId: string): Promise<string> {
    const route = this.#routes.get(environment);
    if (!route?.stacks.has(stackId)) {
      throw new Error(`no test endpoint for ${stackId}: it is not registered in ${environment}`);
    }
    let test = route.tests.get(stackId);
    if (!test) {
      test = { port: 0 };
      route.tests.set(stackId, test);
    }
    if (test.listening) {
      await test.listening;
    } else {
      await this.#openTest(environment, stackId, test);
      await this.#save();
    }
    return `http://${this.#host}:${test.port}`;
  }

  async removeEndpoint(environment: string): Promise<void> {
    const route = this.#routes.get(environment);
    if (!route) return;
    this.#routes.delete(environment);
    await this.#save();
    for (const request of [...route.held]) request.giveUp();
    await Promise.all([route, ...route.tests.values()].map(closeEndpoint));
  }

  /** Every endpoint of the proxy, with the stacks registered behind it. */
  async listRegistrations(): Promise<TrafficRegistrations[]> {
    return [...this.#routes].map(([environment, route]) => ({
      environment,
      endpoint: true,
      stackIds: [...route.stacks.keys()],
    }));
  }

  /** Reopens every recorded endpoint on its recorded port, with its registrations and weights. */
  async restore(): Promise<void> {
    const state = await this.#stateFile?.read();
    if (!state) return;
    for (const [environment, saved] of Object.entries(state.environments)) {
      const stacks = Object.entries(saved.stacks).map(([stackId, targets]): [string, StackRoute] => [
        stackId,
        { ...targets, nextInstance: 0, inFlight: 0, answered: [] },
      ]);
      const tests = Object.entries(saved.testPorts ?? {}).map(([stackId, port]): [string, Listener] => [
        stackId,
        { port },
      ]);
      const route: EnvironmentRoute = {
        port: saved.port,
        stacks: new Map(stacks),
        tests: new Map(tests),
        held: new Set(),
        ...(saved.parked ? { parked: true } : {}),
        ...(saved.lastRequestAt ? { lastRequestAt: saved.lastRequestAt } : {}),
      };
      this.#routes.set(environment, route);
    }
    await Promise.all(
      [...this.#routes].flatMap(([environment, route]) => [
        this.#open(environment, route),
        ...[...route.tests].map(([stackId, test]) => this.#openTest(environment, stackId, test)),
      ]),
    );
  }

  /** Closes every endpoint (shutdown) but keeps the state, so that `restore()` reopens them. */
  async close(): Promise<void> {
    for (const route of this.#routes.values()) for (const request of [...route.held]) request.giveUp();
    await Promise.all(
      [...this.#routes.values()].flatMap((route) => [route, ...route.tests.values()]).map(closeEndpoint),
    );
  }

  #stacksOf(environment: string): Map<string, StackRoute> {
    return this.#routes.get(environment)?.stacks ?? new Map();
  }

  #open(environment: string, route: EnvironmentRoute): Promise<Server> {
    return this.#listen(route, `the endpoint of ${environment}`, (req, res) =>
      this.#route(environment, req, res),
    );
  }

  #openTest(environment: string, stackId: string, test: Listener): Promise<Server> {
    return this.#listen(test, `the test endpoint of ${stackId}`, (req, res) =>
      this.#routeTest(environment, stackId, req, res),
    );
  }

  /** Starts a port listening (a free one the first time); `listener.listening` tracks it. */
  #listen(
    listener: Listener,
    what: string,
    serve: (req: IncomingMessage, res: ServerResponse) => void,
  ): Promise<Server> {
    const server = createServer(serve);
    listener.listening = new Promise<Server>((resolve, reject) => {
      server.once('error', (error) => {
        listener.listening = undefined;
        reject(new Error(`cannot open ${what} on port ${listener.port}: ${error.message}`));
      });
      server.listen(listener.port, this.#host, () => {
        listener.port = (server.address() as AddressInfo).port;
        resolve(server);
      });
    });
    return listener.listening;
  }

  #route(environment: string, req: IncomingMessage, res: ServerResponse): void {
    const route = this.#routes.get(environment);
    if (route) route.lastRequestAt = Date.now();
    const picked = pickStack(this.#stacksOf(environment));
    if (!picked && route?.parked) {
      this.#hold(environment, route, req, res);
      return;
    }
    if (!picked) {
      sendProblem(res, 503, 'No live stack', `environment ${environment} has no stack receiving traffic`);
      return;
    }
    const [stackId, stack] = picked;
    this.#send(req, res, stackId, stack);
  }

  /** A request to a stack's test endpoint: to that stack, weighted or not, and not counted as activity. */
  #routeTest(environment: string, stackId: string, req: IncomingMessage, res: ServerResponse): void {
    if (req.headers[TEST_STACK_HEADER] !== stackId) {
      const detail = `send ${TEST_STACK_HEADER}: ${stackId} with each request to this test endpoint, as on AWS, where the header selects the test route`;
      sendProblem(res, 400, 'Test stack not named', detail);
      return;
    }
    const stack = this.#stacksOf(environment).get(stackId);
    if (!stack) {
      sendProblem(res, 503, 'Stack gone', `stack ${stackId} is no longer registered in ${environment}`);
      return;
    }
    this.#send(req, res, stackId, stack);
  }

  /** Sends the request to the stack's next instance (counted in flight, for draining). */
  #send(req: IncomingMessage, res: ServerResponse, stackId: string, stack: StackRoute): void {
    res.setHeader('x-kiln-stack', stackId);
    const { instances } = stack;
    if (instances.length === 0) {
      sendProblem(res, 502, 'Bad Gateway', `stack ${stackId} has no registered instances`);
      return;
    }
    stack.inFlight += 1;
    const started = performance.now();
    res.once('close', () => {
      stack.inFlight -= 1;
      // A response cut short (the stack failed mid-answer) counts as an error, as a 5xx does.
      const error = res.statusCode >= 500 || !res.writableFinished;
      stack.answered.push({ at: Date.now(), ms: performance.now() - started, error });
      if (stack.answered.length > MAX_ANSWERED)
        stack.answered.splice(0, stack.answered.length - MAX_ANSWERED);
    });
    const index = stack.nextInstance % instances.length;
    stack.nextInstance = index + 1;
    const retryable = (req.method === 'GET' || req.method === 'HEAD') && instances.length > 1;
    this.#forward(req, res, stackId, instances, index, retryable);
  }

  /**
   * Holds a request to a parked endpoint while its environment wakes: it is sent on as soon as a stack
   * gets traffic, or answered 503 with Retry-After once the hold time is over (or at once when too many
   * wait, or nobody can wake the environment). A client that hangs up stops waiting.
   */
  #hold(environment: string, route: EnvironmentRoute, req: IncomingMessage, res: ServerResponse): void {
    const hold = this.#wakeHold;
    if (route.held.size >= MAX_HELD_REQUESTS) {
      sendWaking(res, environment, `${MAX_HELD_REQUESTS} requests already wait for it`);
      return;
    }
    const held: HeldRequest = {
      release: () => {
        done();
        this.#route(environment, req, res);
      },
      giveUp: () => {
        done();
        sendWaking(res, environment, 'it did not wake in time');
      },
    };
    const forget = () => {
      clearTimeout(timer);
      route.held.delete(held);
    };
    const done = () => {
      forget();
      res.off('close', forget);
    };
    const timer = setTimeout(held.giveUp, hold?.holdMs ?? 0);
    route.held.add(held);
    res.once('close', forget);
    this.#wake(environment, route, { method: req.method ?? 'GET', path: req.url ?? '/' });
  }

  /** Calls the waker for a parked environment, at most once per REWAKE_MS. */
  #wake(environment: string, route: EnvironmentRoute, request: { method: string; path: string }): void {
    const waker = this.#wakeHold?.waker;
    const now = Date.now();
    if (!waker || (route.wokenAt !== undefined && now - route.wokenAt < REWAKE_MS)) return;
    route.wokenAt = now;
    waker(environment, request).catch(() => {
      // Not woken this time: the next held request (REWAKE_MS on) calls the waker again.
      route.wokenAt = undefined;
    });
  }

  /** Proxies to `instances[index]`; a safe request that finds it down is retried once on the next one. */
  #forward(
    req: IncomingMessage,
    res: ServerResponse,
    stackId: string,
    instances: Instance[],
    index: number,
    retryable: boolean,
  ): void {
    const instance = instances[index] as Instance;
    this.#proxy.web(req, res, { target: instance.address }, (error) => {
      if (res.headersSent || res.destroyed) {
        res.destroy();
      } else if (retryable) {
        this.#forward(req, res, stackId, instances, (index + 1) % instances.length, false);
      } else {
        const detail = `stack ${stackId} instance ${instance.id} did not answer: ${describeFailure(error)}`;
        sendProblem(res, 502, 'Bad Gateway', detail);
      }
    });
  }

  async #save(): Promise<void> {
    await this.#stateFile?.write({
      environments: Object.fromEntries(
        [...this.#routes].map(([environment, route]) => [
          environment,
          {
            port: route.port,
            ...(route.parked ? { parked: true } : {}),
            ...(route.lastRequestAt ? { lastRequestAt: route.lastRequestAt } : {}),
            ...(route.tests.size > 0
              ? {
                  testPorts: Object.fromEntries(
                    [...route.tests].map(([stackId, test]) => [stackId, test.port]),
                  ),
                }
              : {}),
            stacks: Object.fromEntries(
              [...route.stacks].map(([stackId, { instances, healthCheck, weight }]) => [
                stackId,
                { instances, healthCheck, weight },
              ]),
            ),
          },
        ]),
      ),
    });
  }
}

/** Weighted random choice among the stacks with a weight above 0; undefined when there is none. */
function pickStack(stacks: Map<string, StackRoute>): [string, StackRoute] | undefined {
  const candidates = [...stacks].filter(([, stack]) => stack.weight > 0);
  let roll = Math.random() * candidates.reduce((sum, [, stack]) => sum + stack.weight, 0);
  for (const candidate of candidates) {
    roll -= candidate[1].weight;
    if (roll < 0) return candidate;
  }
  return candidates.at(-1);
}

/** The reason given for a probe refused before it is sent: its path would take it to another host or port. */
const PATH_NOT_ON_INSTANCE = 'health-check path is not a path on the instance';

/**
 * Probes `check.path` on the instance itself. The probe never leaves the instance's host and port: a path
 * that a URL resolver would take elsewhere (`//host:port/x`, `/\host:port/x`, an absolute URL) is refused
 * unsent, and a redirect is an answer, never followed. Reasons name only the instance's own outcome.
 */
async function probeInstance(instance: Instance, check: HealthCheck): Promise<TargetHealth> {
  const url = probeUrl(instance.address, check.path);
  if (!url) return { instanceId: instance.id, healthy: false, reason: PATH_NOT_ON_INSTANCE };
  try {
    const response = await fetch(url, {
      // A redirect is an answer (200–399 is healthy), as for an ALB health check: do not follow it.
      redirect: 'manual',
      signal: AbortSignal.timeout(check.timeoutSeconds * 1000),
    });
    await response.body?.cancel();
    if (response.status >= 200 && response.status < 400) return { instanceId: instance.id, healthy: true };
    return { instanceId: instance.id, healthy: false, reason: `status ${response.status}` };
  } catch (error) {
    const reason =
      (error as Error).name === 'TimeoutError'
        ? `timeout after ${check.timeoutSeconds}s`
        : describeFailure(error);
    return { instanceId: instance.id, healthy: false, reason };
  }
}

/**
 * The instance's origin followed by the path, or undefined when the path is not a path on the instance:
 * it must start with `/` and, resolved against the instance as any URL resolver would (which reads `//x`
 * and `/\x` as another host, and drops tabs and newlines), keep the instance's origin. The URL actually
 * probed is built by appending, so even a path that slipped through could only name a path on the instance.
 */
function probeUrl(address: string, path: string): URL | undefined {
  const { origin } = new URL(address);
  if (!path.startsWith('/')) return undefined;
  try {
    if (new URL(path, origin).origin !== origin) return undefined;
    const url = new URL(`${origin}${path}`);
    return url.origin === origin ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A failed exchange with an instance in a few fixed words (`connection refused`, ...). Never an error's own
 * text: that could describe something other than the instance, and would turn probes into a port scanner.
 */
function describeFailure(error: unknown): string {
  const failure = error as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  // fetch hides the code in `cause`; node:http (the proxy) puts it on the error itself.
  switch (failure.code ?? failure.cause?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'connection reset';
    case 'UND_ERR_SOCKET':
      return 'connection closed without an answer';
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return 'no valid HTTP answer';
  }
}

function sendProblem(res: ServerResponse, status: number, title: string, detail: string): void {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: 'about:blank', title, status, detail }));
}

/** What a parked endpoint answers a request it cannot hold (longer): come back in a few seconds. */
function sendWaking(res: ServerResponse, environment: string, why: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(503, {
    'content-type': 'application/problem+json',
    'retry-after': String(RETRY_AFTER_SECONDS),
  });
  res.end(
    JSON.stringify({
      type: 'about:blank',
      title: 'Waking up',
      status: 503,
      detail: `environment ${environment} is asleep and waking up (${why}): try again in ${RETRY_AFTER_SECONDS} s`,
    }),
  );
}

/** Stops accepting connections, lets open ones finish for CLOSE_GRACE_MS, then cuts them. */
async function closeEndpoint(listener: Listener): Promise<void> {
  const server = await listener.listening?.catch(() => undefined);
  listener.listening = undefined;
  if (!server) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
  await closed;
  clearTimeout(cut);
}
