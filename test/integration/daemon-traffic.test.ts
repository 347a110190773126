import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect as connectSocket, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DaemonTraffic,
  TrafficDaemonUnavailableError,
} from '../../functions/adapters/local/daemon-traffic.ts';
import { acceptsConnections } from '../../functions/adapters/local/free-port.ts';
import { ProxyTraffic } from '../../functions/adapters/local/proxy-traffic.ts';
import {
  ALREADY_SERVED_EXIT_CODE,
  TRAFFIC_DAEMON_PROTOCOL,
} from '../../functions/adapters/local/traffic-daemon-protocol.ts';
import { TEST_STACK_HEADER } from '../../functions/core/ports/traffic.ts';
import type { HealthCheck, Instance } from '../../functions/core/types.ts';
import { DAEMON_ENTRY } from '../support/traffic-client.ts';

const ENV = 'checkout-dev';
const CLIENT_SCRIPT = join(import.meta.dirname, '../support/traffic-client.ts');
const healthCheck: HealthCheck = {
  path: '/health',
  intervalSeconds: 1,
  healthyThreshold: 1,
  timeoutSeconds: 1,
  deadlineSeconds: 30,
};

/** One JSON line a client process printed (see test/support/traffic-client.ts). */
// biome-ignore lint/suspicious/noExplicitAny: events are inspected field by field
type ClientEvent = Record<string, any>;

interface ClientProcess {
  child: ChildProcess;
  /** Resolves with the first event (already printed or still to come) that matches. */
  next(match: (event: ClientEvent) => boolean): Promise<ClientEvent>;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
}

interface Load {
  /** Stops sending and waits for the answers still due. */
  stop(): Promise<{ answered: number; failures: string[]; byStack: Record<string, number> }>;
}

describe('DaemonTraffic (the traffic data plane in its own process)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanUpLater = (cleanup: () => Promise<void>) => cleanups.push(cleanup);

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** A fresh data folder; afterwards every daemon still serving it is stopped and the folder removed. */
  async function dataFolder(prefix = join(tmpdir(), 'kiln-daemon-')): Promise<string> {
    const dir = await mkdtemp(prefix);
    cleanUpLater(async () => {
      await Promise.all((await daemonsServing(dir)).map((pid) => terminate(pid)));
      await rm(dir, { recursive: true, force: true });
    });
    return dir;
  }

  function connect(dataDir: string, daemonEntry = DAEMON_ENTRY): Promise<DaemonTraffic> {
    return DaemonTraffic.connect({ dataDir, daemonEntry });
  }

  /** A tiny instance answering every path with its id as body, after `delayMs`. */
  async function backend(id: string, behaviour: { delayMs?: number; onRequest?: () => void } = {}) {
    const server: Server = createServer((_req, res) => {
      behaviour.onRequest?.();
      setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end(id), behaviour.delayMs ?? 0);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanUpLater(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const instance: Instance = {
      id,
      address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      state: 'running',
    };
    return instance;
  }

  /** Runs test/support/traffic-client.ts: a control plane that the test can kill. */
  function clientProcess(dataDir: string, steps: unknown[][]): ClientProcess {
    const child = spawn(process.execPath, [CLIENT_SCRIPT, JSON.stringify({ dataDir, steps })], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    cleanUpLater(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    const events: ClientEvent[] = [];
    const waiters: (() => void)[] = [];
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) events.push(JSON.parse(line));
      for (const wake of waiters.splice(0)) wake();
    });
    const next = async (match: (event: ClientEvent) => boolean): Promise<ClientEvent> => {
      for (;;) {
        const found = events.find(match);
        if (found) return found;
        if (child.exitCode !== null) throw new Error(`client exited (${child.exitCode}) before the event`);
        await Promise.race([new Promise<void>((wake) => waiters.push(wake)), exited]);
      }
    };
    return {
      child,
      next,
      kill: async () => {
        child.kill('SIGKILL');
        await exited;
      },
    };
  }

  /** GET requests at a steady rate, each on its own; every answer but a 200 counts as a failure. */
  function steadyLoad(url: string, perSecond: number): Load {
    let answered = 0;
    const failures: string[] = [];
    const byStack: Record<string, number> = {};
    const pending = new Set<Promise<void>>();
    const send = async () => {
      try {
        const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
        const body = await response.text();
        if (response.status !== 200) failures.push(`status ${response.status}: ${body}`);
        else {
          answered += 1;
          byStack[body] = (byStack[body] ?? 0) + 1;
        }
      } catch (error) {
        failures.push(`${(error as Error).message}: ${(error as { cause?: Error }).cause?.message}`);
      }
    };
    const timer = setInterval(() => {
      const request = send();
      pending.add(request);
      void request.then(() => pending.delete(request));
    }, 1000 / perSecond);
    return {
      stop: async () => {
        clearInterval(timer);
        await Promise.all(pending);
        return { answered, failures, byStack };
      },
    };
  }

  test('requests keep flowing while the controlling client is SIGKILLed and a new one shifts the weights', async () => {
    const dataDir = await dataFolder();
    const blue = await backend('blue');
    const green = await backend('green');
    const first = clientProcess(dataDir, [
      ['ensureEndpoint', ENV],
      ['registerStack', ENV, 'blue', [blue], healthCheck],
      ['registerStack', ENV, 'green', [green], healthCheck],
      ['setWeights', ENV, { blue: 100, green: 0 }],
    ]);
    const { connected } = await first.next((event) => 'connected' in event);
    const { result: endpoint } = await first.next((event) => event.done === 'ensureEndpoint');
    await first.next((event) => 'idle' in event);
    const load = steadyLoad(endpoint, 50);

    await sleep(600);
    await first.kill();
    await sleep(600);
    const second = await connect(dataDir);
    const status = await second.status();
    const endpointAgain = await second.ensureEndpoint(ENV);
    await second.setWeights(ENV, { blue: 0, green: 100 });
    await sleep(600);
    const { answered, failures, byStack } = await load.stop();

    assert.deepEqual(failures, []);
    assert.ok(answered >= 60, `only ${answered} requests answered in ~1.8 s at 50/s`);
    assert.ok(byStack.blue && byStack.green, `both stacks served: ${JSON.stringify(byStack)}`);
    assert.equal(status.pid, connected.pid, 'the new client reuses the running daemon');
    assert.equal(second.foundRunning, true);
    assert.equal(endpointAgain, endpoint, 'on the same endpoint port');
    assert.deepEqual(await daemonsServing(dataDir), [status.pid], 'one daemon serves the data folder');
    assert.equal(await processGroupOf(status.pid), status.pid, 'the daemon leads its own process group');
    second.detach();
  });

  test('stop() closes every endpoint and the daemon exits; the next connect reopens them on their ports', async () => {
    const dataDir = await dataFolder();
    const traffic = await connect(dataDir);
    const { pid } = await traffic.status();
    const endpoints = [await traffic.ensureEndpoint(ENV), await traffic.ensureEndpoint('other-dev')];
    await traffic.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);
    await traffic.setWeights(ENV, { blue: 100 });
    assert.equal((await stat(traffic.files.socketPath)).mode & 0o777, 0o600, 'socket private to the user');

    await traffic.stop();

    assert.equal(isAlive(pid), false, 'the daemon has exited when stop() resolves');
    for (const endpoint of endpoints) assert.equal(await acceptsConnections(portOf(endpoint)), false);
    await assert.rejects(stat(traffic.files.socketPath), { code: 'ENOENT' });
    await assert.rejects(traffic.getWeights(ENV), TrafficDaemonUnavailableError);

    const again = await connect(dataDir);
    assert.equal(again.foundRunning, false);
    assert.notEqual((await again.status()).pid, pid);
    assert.deepEqual([await again.ensureEndpoint(ENV), await again.ensureEndpoint('other-dev')], endpoints);
    assert.deepEqual(await again.getWeights(ENV), { blue: 100 });
    assert.equal(await (await fetch(endpoints[0] as string)).text(), 'b1');
    await again.stop();
  });

  test('a daemon listening on another interface than asked is stopped and replaced', async () => {
    const dataDir = await dataFolder();
    const first = await connect(dataDir);
    const endpoint = await first.ensureEndpoint(ENV);
    const { pid } = await first.status();

    const second = await DaemonTraffic.connect({ dataDir, daemonEntry: DAEMON_ENTRY, host: '127.0.0.2' });

    assert.equal(second.foundRunning, false);
    assert.equal(isAlive(pid), false);
    assert.deepEqual(
      { ...(await second.status()), pid: 0, startedAt: '' },
      {
        protocol: TRAFFIC_DAEMON_PROTOCOL,
        pid: 0,
        dataDir: second.files.dataDir,
        host: '127.0.0.2',
        startedAt: '',
      },
    );
    assert.equal(await second.ensureEndpoint(ENV), endpoint.replace('127.0.0.1', '127.0.0.2'));
    await second.stop();
  });

  test('a SIGKILLed daemon is started again by the next call, which finds its endpoints and weights restored', async () => {
    const dataDir = await dataFolder();
    const traffic = await connect(dataDir);
    const endpoint = await traffic.ensureEndpoint(ENV);
    await traffic.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);
    await traffic.registerStack(ENV, 'green', [await backend('g1')], healthCheck);
    await traffic.setWeights(ENV, { blue: 0, green: 100 });
    const { pid } = await traffic.status();

    await kill(pid);
    assert.ok((await stat(traffic.files.socketPath)).isSocket(), 'the killed daemon left its socket file');

    assert.deepEqual(await traffic.getWeights(ENV), { blue: 0, green: 100 });
    const restarted = await traffic.status();
    assert.notEqual(restarted.pid, pid);
    assert.equal(await traffic.ensureEndpoint(ENV), endpoint);
    assert.equal(await (await fetch(endpoint)).text(), 'g1');
    assert.deepEqual(await daemonsServing(dataDir), [restarted.pid]);
    await traffic.stop();
  });

  test("a stack's test endpoint is served by the daemon, reaches that stack alone and outlives a SIGKILL", async () => {
    const dataDir = await dataFolder();
    const traffic = await connect(dataDir);
    await traffic.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);
    await traffic.registerStack(ENV, 'green', [await backend('g1')], healthCheck);
    await traffic.setWeights(ENV, { blue: 100, green: 0 });
    const test = await traffic.testEndpoint(ENV, 'green');
    const naming = { headers: { [TEST_STACK_HEADER]: 'green' } };
    assert.equal(await (await fetch(test, naming)).text(), 'g1');

    await kill((await traffic.status()).pid);

    assert.equal(await traffic.testEndpoint(ENV, 'green'), test);
    assert.equal(await (await fetch(test, naming)).text(), 'g1');
    await traffic.stop();
  });

  test('a call that finds the daemon dead is retried once on a restarted daemon', async () => {
    const dataDir = await dataFolder();
    let arrived: () => void = () => undefined;
    const slowArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const traffic = await connect(dataDir);
    const endpoint = await traffic.ensureEndpoint(ENV);
    await traffic.registerStack(
      ENV,
      'blue',
      [await backend('blue', { delayMs: 3000, onRequest: arrived })],
      healthCheck,
    );
    await traffic.registerStack(ENV, 'green', [await backend('green')], healthCheck);
    await traffic.setWeights(ENV, { blue: 100, green: 0 });
    const cut = fetch(endpoint).catch((error: Error) => error);
    await slowArrived;
    await traffic.setWeights(ENV, { green: 100 });
    const { pid } = await traffic.status();

    await kill(pid);
    await traffic.startDrain(ENV, 'blue', 30);

    assert.ok((await cut) instanceof Error, 'the daemon took its in-flight request with it');
    assert.deepEqual(
      await traffic.getWeights(ENV),
      { blue: 0, green: 100 },
      'the retried call started the drain',
    );
    assert.equal(await traffic.finishDrain(ENV, 'blue'), true, 'nothing is in flight on the new daemon');
    assert.deepEqual(await traffic.getWeights(ENV), { green: 100 });
    assert.notEqual((await traffic.status()).pid, pid);
    await traffic.stop();
  });

  test('a stale socket is replaced, and daemons started together leave exactly one serving', async () => {
    const dataDir = await dataFolder();
    const first = await connect(dataDir);
    await kill((await first.status()).pid);
    assert.ok((await stat(first.files.socketPath)).isSocket());
    assert.equal(await answers(first.files.socketPath), 'ECONNREFUSED', 'the socket left behind is stale');

    const clients = await Promise.all([connect(dataDir), connect(dataDir), connect(dataDir)]);

    const pids = new Set(await Promise.all(clients.map(async (client) => (await client.status()).pid)));
    assert.equal(pids.size, 1, 'every client talks to the same daemon');
    // Each client started a daemon; all but one find the folder served and exit.
    await eventually(async () => (await daemonsServing(dataDir)).length === 1);
    assert.deepEqual(await daemonsServing(dataDir), [...pids]);
    assert.equal(await answers(first.files.socketPath), 'connected', 'a new socket replaced the stale one');

    const intruder = spawn(process.execPath, [DAEMON_ENTRY, '--data-dir', dataDir], { stdio: 'ignore' });
    const code = await new Promise((resolve) => intruder.once('exit', resolve));
    assert.equal(code, ALREADY_SERVED_EXIT_CODE, 'a second daemon for the folder gives way');
    assert.deepEqual(await daemonsServing(dataDir), [...pids]);
    assert.equal((await clients[0]?.status())?.pid, [...pids][0], 'and the first still answers');
    await clients[0]?.stop();
  });

  test('a drain outlives the client that started it: its requests finish, and a later client completes it', async () => {
    const dataDir = await dataFolder();
    let arrived: () => void = () => undefined;
    const slowArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const observer = await connect(dataDir);
    const endpoint = await observer.ensureEndpoint(ENV);
    await observer.registerStack(
      ENV,
      'blue',
      [await backend('blue', { delayMs: 1500, onRequest: arrived })],
      healthCheck,
    );
    await observer.registerStack(ENV, 'green', [await backend('green')], healthCheck);
    await observer.setWeights(ENV, { blue: 100, green: 0 });
    const slow = fetch(endpoint).then(async (response) => response.text());
    await slowArrived;

    const controlPlane = clientProcess(dataDir, [
      ['setWeights', ENV, { green: 100 }],
      ['startDrain', ENV, 'blue', 30],
      ['finishDrain', ENV, 'blue'],
    ]);
    await controlPlane.next((event) => event.started === 'finishDrain');
    await controlPlane.kill();

    assert.deepEqual(await observer.getWeights(ENV), { blue: 0, green: 100 }, 'still draining');
    assert.equal(await observer.finishDrain(ENV, 'blue'), false, 'the slow request is still in flight');
    assert.equal(await slow, 'blue', 'the in-flight request finished on the draining stack');
    assert.equal(await observer.finishDrain(ENV, 'blue'), true);
    assert.deepEqual(await observer.getWeights(ENV), { green: 100 });
    assert.equal(await (await fetch(endpoint)).text(), 'green');
    await observer.stop();
  });

  test('health probes through the daemon never reach another port, whatever the path', async () => {
    let connections = 0;
    const elsewhere = createNetServer((socket) => {
      connections += 1;
      socket.resume();
      socket.end();
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    cleanUpLater(() => new Promise((resolve) => elsewhere.close(() => resolve())));
    const target = `127.0.0.1:${(elsewhere.address() as AddressInfo).port}`;
    const traffic = await connect(await dataFolder());
    const instance = await backend('b1');

    for (const path of [`//${target}/x`, `/\\${target}/x`, `http://${target}/x`]) {
      await traffic.registerStack(ENV, 'blue', [instance], { ...healthCheck, path });
      assert.deepEqual(await traffic.probeHealth(ENV, 'blue'), [
        { instanceId: 'b1', healthy: false, reason: 'health-check path is not a path on the instance' },
      ]);
    }

    assert.equal(connections, 0);
    await traffic.stop();
  });

  test("the daemon's errors reach the caller with their own name and message", async () => {
    const traffic = await connect(await dataFolder());
    await traffic.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);
    const inProcess = new ProxyTraffic();
    cleanUpLater(() => inProcess.close());
    const badCall = (t: ProxyTraffic | DaemonTraffic) =>
      t.registerStack(ENV, 'red', null as unknown as Instance[], healthCheck);
    const expected = await badCall(inProcess).then(
      () => assert.fail('registering null instances should throw'),
      (error: Error) => error,
    );

    await assert.rejects(traffic.setWeights(ENV, { ghost: 100 }), {
      name: 'Error',
      message: `cannot set weights in ${ENV}: stack(s) not registered: ghost`,
    });
    await assert.rejects(badCall(traffic), { name: expected.name, message: expected.message });
    assert.equal(expected.name, 'TypeError');
    await traffic.stop();
  });

  test('a data folder too deep for a socket path gets a short private socket under the temp folder', async () => {
    const base = await dataFolder();
    const deep = join(base, 'a-folder-name-long-enough-to-push-the-socket-path'.repeat(2));
    // The daemon must find the same temp folder as its client: a TMPDIR of our own shows it does.
    const temp = await mkdtemp(join(tmpdir(), 'kiln-tmp-'));
    const previousTmpdir = process.env.TMPDIR;
    process.env.TMPDIR = temp;
    cleanUpLater(async () => {
      await Promise.all((await daemonsServing(deep)).map((pid) => terminate(pid)));
      if (previousTmpdir === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previousTmpdir;
      await rm(temp, { recursive: true, force: true });
    });
    const traffic = await connect(deep);

    const { socketPath } = traffic.files;
    assert.ok(Buffer.byteLength(join(deep, 'traffic.sock')) > 104);
    assert.ok(socketPath.startsWith(join(temp, `kiln-${process.getuid?.()}`)), socketPath);
    assert.ok(Buffer.byteLength(socketPath) <= 103);
    assert.equal((await stat(socketPath)).mode & 0o777, 0o600);
    assert.equal((await stat(join(socketPath, '..'))).mode & 0o777, 0o700);
    const endpoint = await traffic.ensureEndpoint(ENV);
    assert.equal(await acceptsConnections(portOf(endpoint)), true);
    await traffic.stop();
    await assert.rejects(stat(socketPath), { code: 'ENOENT' });
  });

  test('connect says why when the daemon cannot start', async () => {
    const dataDir = await dataFolder();

    await assert.rejects(connect(dataDir, join(dataDir, 'no-such-daemon.ts')), (error: Error) => {
      assert.equal(error.name, 'TrafficDaemonUnavailableError');
      assert.match(error.message, /exited \(1\) before answering: .*no-such-daemon/);
      assert.match(error.message, /logs\/traffic-daemon\.log/);
      return true;
    });
  });
});

/** Polls (every 50 ms, for at most 10 s) until `check` holds. */
async function eventually(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met within 10 s');
    await sleep(50);
  }
}

/** Whether something listens on a Unix socket: `connected`, or the error code. */
function answers(socketPath: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connectSocket(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL and wait until the process is gone. */
async function kill(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  while (isAlive(pid)) await sleep(10);
}

/** SIGTERM (a daemon stops gracefully), SIGKILL after 3 s; waits until the process is gone. */
async function terminate(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 3000;
  while (isAlive(pid) && Date.now() < deadline) await sleep(20);
  if (isAlive(pid)) await kill(pid);
}

/** Pids of the traffic daemons started for a data folder, found by their command line (Linux /proc). */
async function daemonsServing(dataDir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      const dir = args[args.indexOf('--data-dir') + 1] ?? '';
      if (args.some((arg) => arg.endsWith('traffic-daemon.ts')) && dir === dataDir) {
        pids.push(Number(entry));
      }
    } catch {
      // The process exited while we looked.
    }
  }
  return pids;
}

/** The process group of a process (Linux /proc), to show the daemon is out of the terminal's group. */
async function processGroupOf(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.split(' ') ?? [];
  return Number(fields[2]);
}
