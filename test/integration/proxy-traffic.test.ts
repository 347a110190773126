import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { acceptsConnections, freePort } from '../../functions/adapters/local/free-port.ts';
import { ProcessCompute } from '../../functions/adapters/local/process-compute.ts';
import { ProxyTraffic, type ProxyTrafficOptions } from '../../functions/adapters/local/proxy-traffic.ts';
import { TEST_STACK_HEADER } from '../../functions/core/ports/traffic.ts';
import type { HealthCheck, Instance } from '../../functions/core/types.ts';
import { sampleSpec } from '../support/specs.ts';

const ENV = 'checkout-dev';
const healthCheck: HealthCheck = {
  path: '/health',
  intervalSeconds: 1,
  healthyThreshold: 1,
  // Generous enough for a freshly started app on a busy machine, well below the slow sample app's delay.
  timeoutSeconds: 1,
  deadlineSeconds: 30,
};

interface BackendBehaviour {
  /** Delay before answering, in ms. */
  delayMs?: number;
  /** Status of every answer. */
  status?: number;
  /** Called as each request arrives, before the delay. */
  onRequest?: () => void;
}

interface Reply {
  status: number;
  stack: string | null;
  contentType: string | null;
  body: string;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const response = await fetch(url, { headers });
  return {
    status: response.status,
    stack: response.headers.get('x-kiln-stack'),
    contentType: response.headers.get('content-type'),
    body: await response.text(),
  };
}

async function getMany(url: string, count: number): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (let i = 0; i < count; i++) replies.push(await get(url));
  return replies;
}

/** An instance address nothing listens on. */
async function deadInstance(id: string): Promise<Instance> {
  return { id, address: `http://127.0.0.1:${await freePort()}`, state: 'running' };
}

describe('ProxyTraffic', () => {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanUpLater = (cleanup: () => Promise<void>) => cleanups.push(cleanup);

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  function newTraffic(options: ProxyTrafficOptions = {}): ProxyTraffic {
    const traffic = new ProxyTraffic(options);
    cleanUpLater(() => traffic.close());
    return traffic;
  }

  /** A tiny in-test instance answering every path with its id as body. */
  async function backend(id: string, behaviour: BackendBehaviour = {}): Promise<Instance> {
    const server: Server = createServer((_req, res) => {
      behaviour.onRequest?.();
      setTimeout(() => {
        res.writeHead(behaviour.status ?? 200, { 'content-type': 'text/plain' });
        res.end(id);
      }, behaviour.delayMs ?? 0);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanUpLater(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    return { id, address: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, state: 'running' };
  }

  /** A TCP listener that counts the connections it accepts and hands each to `onConnection`. */
  async function listenerCountingConnections(onConnection: (socket: Socket) => void = () => undefined) {
    let connections = 0;
    const server = createNetServer((socket) => {
      connections += 1;
      // Read (and drop) what arrives, or the socket never sees the peer close and the server never closes.
      socket.resume();
      onConnection(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanUpLater(() => new Promise((resolve) => server.close(() => resolve())));
    return { port: (server.address() as AddressInfo).port, connections: () => connections };
  }

  function newCompute(): ProcessCompute {
    const compute = new ProcessCompute({
      artifactsDir: fileURLToPath(new URL('../../infra/local/artifacts', import.meta.url)),
    });
    cleanUpLater(() => compute.shutdown());
    return compute;
  }

  async function tempFile(name: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-traffic-'));
    cleanUpLater(() => rm(dir, { recursive: true, force: true }));
    return join(dir, name);
  }
  describe('a parked endpoint (an environment asleep)', () => {
    test('holds a request while the waker wakes the environment, then sends it to the stack that took traffic', async () => {
      const traffic = newTraffic();
      const endpoint = await traffic.parkEndpoint(ENV).then(() => traffic.ensureEndpoint(ENV));
      const woken: { environment: string; path: string }[] = [];
      const instance = await backend('woken');
      traffic.setWakeHold({
        holdMs: 10_000,
        waker: async (environment, request) => {
          woken.push({ environment, path: request.path });
          // The wake, as a deployment does it: a new stack registered, then given traffic.
          setTimeout(async () => {
            await traffic.registerStack(ENV, 'woken-stack', [instance], healthCheck);
            await traffic.setWeights(ENV, { 'woken-stack': 100 });
          }, 200);
        },
      });
      const replies = await Promise.all([get(`${endpoint}/a`), get(`${endpoint}/b`), get(`${endpoint}/c`)]);
      assert.deepEqual(
        replies.map((reply) => [reply.status, reply.body, reply.stack]),
        Array.from({ length: 3 }, () => [200, 'woken', 'woken-stack']),
      );
      assert.equal(woken.length, 1, 'concurrent held requests call the waker once');
      assert.equal(woken[0]?.environment, ENV);
      assert.ok(await traffic.lastRequestAt(ENV, new Date(Date.now() - 60_000).toISOString()));
    });

    test('answers 503 with Retry-After once the hold time is over, or at once when nobody can wake it', async () => {
      const traffic = newTraffic();
      await traffic.parkEndpoint(ENV);
      const endpoint = await traffic.ensureEndpoint(ENV);
      const unwakeable = await fetch(endpoint);
      assert.equal(unwakeable.status, 503);
      assert.equal(unwakeable.headers.get('retry-after'), '10');
      assert.match(await unwakeable.text(), /asleep and waking up/);

      let calls = 0;
      traffic.setWakeHold({ holdMs: 300, waker: async () => void calls++ });
      const started = Date.now();
      const late = await fetch(endpoint);
      assert.equal(late.status, 503);
      assert.ok(Date.now() - started >= 290, 'held for the hold time');
      assert.equal(calls, 1);
    });

    test('is kept parked across a restart of the proxy, and a client that hangs up stops waiting', async () => {
      const stateFile = await tempFile('traffic.json');
      const first = new ProxyTraffic({ stateFile });
      await first.parkEndpoint(ENV);
      const endpoint = await first.ensureEndpoint(ENV);
      await first.close();
      const second = newTraffic({ stateFile });
      await second.restore();
      let calls = 0;
      second.setWakeHold({ holdMs: 5000, waker: async () => void calls++ });
      await assert.rejects(fetch(endpoint, { signal: AbortSignal.timeout(200) }));
      assert.equal(calls, 1, 'restored parked: the request woke it');
    });
  });

  describe("a stack's test endpoint (what its hooks are given)", () => {
    const naming = (stackId: string) => ({ [TEST_STACK_HEADER]: stackId });

    test('reaches only the stack named, even while another stack has weight 100, and is not activity', async () => {
      const traffic = newTraffic();
      const endpoint = await traffic.ensureEndpoint(ENV);
      await traffic.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);
      await traffic.registerStack(ENV, 'green', [await backend('g1'), await backend('g2')], healthCheck);
      await traffic.setWeights(ENV, { blue: 100, green: 0 });
      const since = new Date().toISOString();

      const test = await traffic.testEndpoint(ENV, 'green');

      assert.notEqual(test, endpoint);
      assert.equal(await traffic.testEndpoint(ENV, 'green'), test, 'the same port on every call');
      const replies = await Promise.all(Array.from({ length: 6 }, () => get(`${test}/x`, naming('green'))));
      assert.deepEqual(
        replies.map((reply) => [reply.status, reply.stack]),
        Array(6).fill([200, 'green']),
      );
      assert.deepEqual(new Set(replies.map((reply) => reply.body)), new Set(['g1', 'g2']));
      assert.equal(await traffic.lastRequestAt(ENV, since), undefined, 'test requests are not activity');
      assert.deepEqual(await traffic.getWeights(ENV), { blue: 100, green: 0 });
      const main = await get(endpoint);
      assert.deepEqual([main.stack, main.body], ['blue', 'b1']);
      assert.ok(await traffic.lastRequestAt(ENV, since));
    });

    test('asks each request to name the stack in the header, as the AWS test rule does', async () => {
      const traffic = newTraffic();
      await traffic.registerStack(ENV, 'green', [await backend('g1')], healthCheck);
      const test = await traffic.testEndpoint(ENV, 'green');

      for (const headers of [{}, naming('blue')]) {
        const reply = await get(test, headers);
        assert.equal(reply.status, 400);
        assert.match(JSON.parse(reply.body).detail, /send x-kiln-test-stack: green/);
      }
    });

    test('is refused for a stack that is not registered', async () => {
      const traffic = newTraffic();
      await traffic.ensureEndpoint(ENV);
      await assert.rejects(traffic.testEndpoint(ENV, 'green'), {
        message: `no test endpoint for green: it is not registered in ${ENV}`,
      });
    });

    test('closes when its stack is drained or the endpoint removed, and comes back with restore', async () => {
      const stateFile = await tempFile('traffic.json');
      const before = new ProxyTraffic({ stateFile });
      await before.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);
      await before.registerStack(ENV, 'green', [await backend('g1')], healthCheck);
      const blueTest = await before.testEndpoint(ENV, 'blue');
      const greenTest = await before.testEndpoint(ENV, 'green');
      await before.close();

      const after = newTraffic({ stateFile });
      await after.restore();
      assert.equal(await after.testEndpoint(ENV, 'green'), greenTest, 'restored on its port');
      assert.equal((await get(greenTest, naming('green'))).body, 'g1');

      await after.finishDrain(ENV, 'green', { cutOff: true });
      assert.equal(await acceptsConnections(Number(new URL(greenTest).port)), false);
      assert.equal((await get(blueTest, naming('blue'))).body, 'b1');

      await after.removeEndpoint(ENV);
      assert.equal(await acceptsConnections(Number(new URL(blueTest).port)), false);
    });
  });

  test('weights 100/0 send every request to one stack of sample apps, and a switch moves them all', async () => {
    const compute = newCompute();
    const blue = await compute.launchStack(
      { environment: ENV, stackId: 'blue', deploymentId: 'd1' },
      sampleSpec({ version: '1.0.0', healthCheck }),
    );
    const green = await compute.launchStack(
      { environment: ENV, stackId: 'green', deploymentId: 'd2' },
      sampleSpec({ version: '2.0.0', healthCheck }),
    );
    const traffic = newTraffic();
    const endpoint = await traffic.ensureEndpoint(ENV);
    await traffic.registerStack(ENV, 'blue', blue, healthCheck);
    await traffic.registerStack(ENV, 'green', green, healthCheck);

    await traffic.setWeights(ENV, { blue: 100, green: 0 });
    for (const reply of await getMany(endpoint, 20)) {
      assert.deepEqual([reply.status, reply.stack, reply.body], [200, 'blue', 'sample-app 1.0.0\n']);
    }

    await traffic.setWeights(ENV, { green: 100, blue: 0 });
    for (const reply of await getMany(endpoint, 20)) {
      assert.deepEqual([reply.status, reply.stack, reply.body], [200, 'green', 'sample-app 2.0.0\n']);
    }
  });

  test('50/50 weights split requests roughly evenly', async () => {
    const traffic = newTraffic();
    const endpoint = await traffic.ensureEndpoint(ENV);
    await traffic.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);
    await traffic.registerStack(ENV, 'green', [await backend('g1')], healthCheck);
    await traffic.setWeights(ENV, { blue: 50, green: 50 });

    const replies = await getMany(endpoint, 200);

    const toBlue = replies.filter((reply) => reply.stack === 'blue').length;
    assert.ok(toBlue >= 60 && toBlue <= 140, `blue got ${toBlue} of 200`);
    assert.equal(replies.filter((reply) => reply.stack === 'green').length, 200 - toBlue);
  });

  test("a stack's instances take requests in turn", async () => {
    const traffic = newTraffic();
    const endpoint = await traffic.ensureEndpoint(ENV);
    await traffic.registerStack(ENV, 'blue', [await backend('b1'), await backend('b2')], healthCheck);
    await traffic.setWeights(ENV, { blue: 100 });

    const bodies = (await getMany(endpoint, 4)).map((reply) => reply.body);

    assert.deepEqual(bodies, ['b1', 'b2', 'b1', 'b2']);
  });

  test('an environment without a weighted stack answers 503 problem+json', async () => {
    const traffic = newTraffic();
    const endpoint = await traffic.ensureEndpoint(ENV);
    await traffic.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);

    const reply = await get(`${endpoint}/orders`);

    assert.equal(reply.status, 503);
    assert.equal(reply.contentType, 'application/problem+json');
    assert.deepEqual(JSON.parse(reply.body), {
      type: 'about:blank',
      title: 'No live stack',
      status: 503,
      detail: `environment ${ENV} has no stack receiving traffic`,
    });
  });

  test('a GET refused by one instance is retried on another; with no other instance it answers 502', async () => {
    const traffic = newTraffic();
    const endpoint = await traffic.ensureEndpoint(ENV);
    await traffic.registerStack(
      ENV,
      'blue',
      [await deadInstance('b-dead'), await backend('b-live')],
      healthCheck,
    );
    await traffic.registerStack(ENV, 'green', [await deadInstance('g-dead')], healthCheck);

    await traffic.setWeights(ENV, { blue: 100 });
    for (const reply of await getMany(endpoint, 4))
      assert.deepEqual([reply.status, reply.body], [200, 'b-live']);

    await traffic.setWeights(ENV, { blue: 0, green: 100 });
    const reply = await get(endpoint);
    assert.equal(reply.status, 502);
    assert.equal(reply.stack, 'green');
    assert.equal(reply.contentType, 'application/problem+json');
    assert.match(JSON.parse(reply.body).detail, /g-dead did not answer: connection refused/);
  });

  test('probeHealth reports each sample-app instance healthy or why not: status, timeout, refused', async () => {
    const compute = newCompute();
    const launch = (stackId: string, env: Record<string, string>) =>
      compute.launchStack(
        { environment: ENV, stackId, deploymentId: 'd1' },
        sampleSpec({ version: '1', env, capacity: 1, healthCheck }),
      );
    const instances = [
      ...(await launch('fine', {})),
      ...(await launch('sick', { SAMPLE_HEALTH: 'fail' })),
      ...(await launch('slow', { SAMPLE_DELAY_MS: '3000' })),
      await deadInstance('gone'),
    ];
    const traffic = newTraffic();
    await traffic.registerStack(ENV, 'blue', instances, healthCheck);

    const round = await traffic.probeHealth(ENV, 'blue');

    assert.deepEqual(round, [
      { instanceId: 'i-fine-1', healthy: true },
      { instanceId: 'i-sick-1', healthy: false, reason: 'status 503' },
      { instanceId: 'i-slow-1', healthy: false, reason: 'timeout after 1s' },
      { instanceId: 'gone', healthy: false, reason: 'connection refused' },
    ]);
    assert.deepEqual(await traffic.probeHealth(ENV, 'unknown'), []);
  });

  test('a health-check path naming another host or port is refused unsent: nothing reaches that port', async () => {
    const elsewhere = await listenerCountingConnections();
    const target = `127.0.0.1:${elsewhere.port}`;
    const hostilePaths = [
      `//${target}/x`,
      `/\\${target}/x`,
      `/\t/${target}/x`,
      `/\n/${target}/x`,
      `http://${target}/x`,
      `health`,
    ];
    const instance = await backend('b1');
    const traffic = newTraffic();

    for (const path of hostilePaths) {
      await traffic.registerStack(ENV, 'blue', [instance], { ...healthCheck, path });
      assert.deepEqual(
        await traffic.probeHealth(ENV, 'blue'),
        [{ instanceId: 'b1', healthy: false, reason: 'health-check path is not a path on the instance' }],
        `path ${JSON.stringify(path)}`,
      );
    }
    await traffic.registerStack(ENV, 'blue', [instance], { ...healthCheck, path: `/..//${target}/x` });
    assert.deepEqual(await traffic.probeHealth(ENV, 'blue'), [{ instanceId: 'b1', healthy: true }]);

    assert.equal(elsewhere.connections(), 0);
  });

  test("a failed probe names only the instance's own outcome, never the text of the error", async () => {
    const garbage = await listenerCountingConnections((socket) => socket.end('SSH-2.0-OpenSSH_9.9\r\n'));
    const hangUp = await listenerCountingConnections((socket) => socket.destroy());
    const traffic = newTraffic();
    await traffic.registerStack(
      ENV,
      'blue',
      [
        { id: 'garbage', address: `http://127.0.0.1:${garbage.port}`, state: 'running' },
        { id: 'hang-up', address: `http://127.0.0.1:${hangUp.port}`, state: 'running' },
      ],
      healthCheck,
    );

    const round = await traffic.probeHealth(ENV, 'blue');

    assert.deepEqual(round, [
      { instanceId: 'garbage', healthy: false, reason: 'no valid HTTP answer' },
      { instanceId: 'hang-up', healthy: false, reason: 'connection closed without an answer' },
    ]);
  });

  test('a drain lets an in-flight request finish while new requests go elsewhere, then deregisters', async () => {
    let arrived: () => void = () => undefined;
    const slowArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const traffic = newTraffic();
    const endpoint = await traffic.ensureEndpoint(ENV);
    await traffic.registerStack(
      ENV,
      'blue',
      [await backend('b1', { delayMs: 600, onRequest: arrived })],
      healthCheck,
    );
    await traffic.registerStack(ENV, 'green', [await backend('g1')], healthCheck);
    await traffic.setWeights(ENV, { blue: 100, green: 0 });

    const slow = get(endpoint);
    await slowArrived;
    await traffic.setWeights(ENV, { green: 100 });
    await traffic.startDrain(ENV, 'blue', 5);
    const duringDrain = await getMany(endpoint, 5);
    assert.equal(await traffic.finishDrain(ENV, 'blue'), false, 'a request is in flight');
    assert.deepEqual(await traffic.getWeights(ENV), { blue: 0, green: 100 });

    assert.deepEqual(await slow, { status: 200, stack: 'blue', contentType: 'text/plain', body: 'b1' });
    assert.equal(await traffic.finishDrain(ENV, 'blue'), true);
    assert.ok(duringDrain.every((reply) => reply.stack === 'green'));
    assert.deepEqual(await traffic.getWeights(ENV), { green: 100 });
    await traffic.startDrain(ENV, 'blue', 5);
    assert.equal(await traffic.finishDrain(ENV, 'blue'), true, 'a stack no longer registered is drained');
  });

  test('a drain cut off (its deadline passed) deregisters the stack; the request in flight still completes', async () => {
    let arrived: () => void = () => undefined;
    const slowArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const traffic = newTraffic();
    const endpoint = await traffic.ensureEndpoint(ENV);
    await traffic.registerStack(
      ENV,
      'blue',
      [await backend('b1', { delayMs: 1500, onRequest: arrived })],
      healthCheck,
    );
    await traffic.setWeights(ENV, { blue: 100 });
    const slow = get(endpoint);
    await slowArrived;

    await traffic.startDrain(ENV, 'blue', 0);
    assert.equal(await traffic.finishDrain(ENV, 'blue', { cutOff: true }), true);

    assert.deepEqual(await traffic.getWeights(ENV), {});
    assert.equal((await slow).status, 200, 'a request already proxied still completes');
  });

  test('setWeights naming an unregistered stack, or an out-of-range weight, throws and changes nothing', async () => {
    const traffic = newTraffic();
    await traffic.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);
    await traffic.registerStack(ENV, 'green', [await backend('g1')], healthCheck);
    await traffic.setWeights(ENV, { blue: 100 });

    await assert.rejects(traffic.setWeights(ENV, { blue: 0, green: 0, ghost: 100 }), /not registered: ghost/);
    await assert.rejects(traffic.setWeights(ENV, { blue: 0, green: 150 }), /0–100/);
    await assert.rejects(traffic.setWeights('other-env', { blue: 100 }), /not registered: blue/);

    assert.deepEqual(await traffic.getWeights(ENV), { blue: 100, green: 0 });
  });

  test('re-registering a stack replaces its targets and keeps its weight', async () => {
    const traffic = newTraffic();
    const endpoint = await traffic.ensureEndpoint(ENV);
    await traffic.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);
    await traffic.setWeights(ENV, { blue: 100 });

    await traffic.registerStack(ENV, 'blue', [await backend('b2')], healthCheck);

    assert.deepEqual(await traffic.getWeights(ENV), { blue: 100 });
    assert.equal((await get(endpoint)).body, 'b2');
  });

  test('removeEndpoint closes the endpoint and forgets its stacks; removing again succeeds', async () => {
    const traffic = newTraffic();
    const endpoint = await traffic.ensureEndpoint(ENV);
    assert.equal(await traffic.ensureEndpoint(ENV), endpoint, 'ensureEndpoint is idempotent');
    await traffic.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);

    await traffic.removeEndpoint(ENV);

    assert.equal(await acceptsConnections(Number(new URL(endpoint).port)), false);
    assert.deepEqual(await traffic.getWeights(ENV), {});
    await traffic.removeEndpoint(ENV);
  });

  test('lists every endpoint with the stacks registered behind it, and forgets what was drained or removed', async () => {
    const traffic = newTraffic();
    await traffic.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);
    await traffic.registerStack(ENV, 'green', [await backend('g1')], healthCheck);
    await traffic.ensureEndpoint('other-dev');
    await traffic.registerStack('gone-dev', 'gone', [await backend('x1')], healthCheck);

    await traffic.finishDrain(ENV, 'green', { cutOff: true });
    await traffic.removeEndpoint('gone-dev');

    assert.deepEqual(await traffic.listRegistrations(), [
      { environment: ENV, endpoint: true, stackIds: ['blue'] },
      { environment: 'other-dev', endpoint: true, stackIds: [] },
    ]);
  });

  test('restore after close reopens each endpoint on the same port with its registrations and weights', async () => {
    const stateFile = await tempFile('traffic.json');
    const before = newTraffic({ stateFile });
    const endpoint = await before.ensureEndpoint(ENV);
    await before.registerStack(ENV, 'blue', [await backend('b1')], healthCheck);
    await before.registerStack(ENV, 'green', [await backend('g1')], healthCheck);
    await before.setWeights(ENV, { blue: 0, green: 100 });
    await before.close();
    assert.equal(await acceptsConnections(Number(new URL(endpoint).port)), false);

    const after = newTraffic({ stateFile });
    await after.restore();

    assert.equal(await after.ensureEndpoint(ENV), endpoint);
    assert.deepEqual(await after.getWeights(ENV), { blue: 0, green: 100 });
    const reply = await get(endpoint);
    assert.deepEqual([reply.status, reply.stack, reply.body], [200, 'green', 'g1']);
  });
});
