import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Actor } from '../../functions/core/actors.ts';
import { sweepIdle } from '../../functions/core/upkeep/sweep.ts';
import type { Kiln } from '../../infra/local/runtime.ts';
import { commitOf, githubPush } from '../fixtures/push-events.ts';
import { startTestKiln } from '../support/embedded-kiln.ts';
import { deliver } from '../support/github.ts';
import {
  approveWhenAsked,
  awaitDeployment,
  call,
  eventually,
  fetchText,
  processesOfStack,
  quickEnvironmentBody,
  removeDataDir,
} from '../support/kiln-process.ts';
import { realStateViolations } from '../support/real-state.ts';

const SWEEP: Actor = {
  trigger: 'schedule',
  principal: 'kiln-idle-sweep',
  schedule: { name: 'kiln-idle-sweep', scheduledAt: new Date().toISOString() },
};

/**
 * Issue 9 end to end over HTTP on the embedded runtime: real sample-app processes, the real proxy (its
 * daemon), the real ASL runner over state-machines/, the real store. Every outcome is read back from the
 * API, the endpoint and /proc, and DESIGN's invariants are checked against the real state after each.
 */
describe('idle environments', { timeout: 600_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;
  const touched: string[] = [];

  before(async () => {
    ({ kiln, dataDir } = await startTestKiln('kiln-idle-'));
  });
  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  async function deployed(name: string, overrides: Record<string, unknown> = {}) {
    touched.push(name);
    const body = { ...quickEnvironmentBody('v1'), ...overrides };
    body.spec.env = { GREETING: `hello from ${name}` };
    const put = await call(kiln, 'PUT', `/environments/${name}`, { body });
    assert.equal(put.status, 201, JSON.stringify(put.body));
    if (overrides.tier === 'prod') await approveWhenAsked(kiln, name, put.body.deploymentId);
    const deployment = await awaitDeployment(kiln, name, put.body.deploymentId);
    assert.equal(deployment.status, 'succeeded', JSON.stringify(deployment));
    return (await call(kiln, 'GET', `/environments/${name}`)).body;
  }

  async function asleep(name: string, deploymentId: string) {
    const sleep = await awaitDeployment(kiln, name, deploymentId);
    assert.equal(sleep.status, 'succeeded', JSON.stringify(sleep));
    assert.equal(sleep.action, 'sleep');
    return (await call(kiln, 'GET', `/environments/${name}`)).body;
  }

  /** The environment once no deployment holds it (the wake records its outcome after the cutover). */
  async function settled(name: string) {
    return eventually(`${name} to settle`, async () => {
      const environment = (await call(kiln, 'GET', `/environments/${name}`)).body;
      return environment.deploymentInProgress === null ? environment : undefined;
    });
  }

  async function assertInvariants() {
    assert.deepEqual(await realStateViolations(dataDir, touched), []);
  }

  it('POST /sleep stops every process and keeps the endpoint; a request to it wakes the same version with the same env', async () => {
    const awake = await deployed('idle-http');
    assert.equal(awake.idle.afterMinutes, 60, 'dev: 60 minutes by default');
    assert.equal(awake.idle.source, 'tier default');
    assert.ok(awake.sleepsAt, 'a dev environment has a time to sleep');
    const liveStack = awake.liveStack.stackId;
    assert.equal(await fetchText(`${awake.endpoint}/greeting`), 'hello from idle-http\n');

    const sleep = await call(kiln, 'POST', '/environments/idle-http/sleep', { body: { reason: 'night' } });
    assert.equal(sleep.status, 202, JSON.stringify(sleep.body));
    const sleeping = await asleep('idle-http', sleep.body.deploymentId);
    assert.equal(sleeping.status, 'sleeping');
    assert.equal(sleeping.liveStack, null);
    assert.equal(sleeping.endpoint, awake.endpoint, 'the endpoint stays');
    assert.equal(sleeping.sleptVersion, 'v1');
    assert.equal(sleeping.sleepsAt, null);
    assert.deepEqual(await processesOfStack(liveStack), [], 'its processes have exited');
    await assertInvariants();

    // The first request is held while the environment wakes, then answered by the new stack.
    const started = Date.now();
    const [greeting, version] = await Promise.all([
      fetch(`${awake.endpoint}/greeting`, { signal: AbortSignal.timeout(60_000) }),
      fetch(awake.endpoint, { signal: AbortSignal.timeout(60_000) }),
    ]);
    assert.equal(greeting.status, 200);
    assert.equal(await greeting.text(), 'hello from idle-http\n', 'the same env');
    assert.equal(await version.text(), 'sample-app v1\n', 'the same version');
    assert.ok(Date.now() - started < 60_000);

    const woken = await settled('idle-http');
    assert.equal(woken.status, 'live');
    assert.notEqual(woken.liveStack.stackId, liveStack, 'a new stack');
    const [wake] = (await call(kiln, 'GET', '/environments/idle-http/deployments?limit=1')).body.deployments;
    assert.equal(wake.trigger, 'wake');
    assert.equal(wake.action, 'deploy');
    assert.equal(wake.version, 'v1');
    assert.equal(wake.reason, 'a request reached its endpoint');
    await assertInvariants();
  });

  it('POST /wake wakes it; concurrent wakes make one wake; waking an awake environment changes nothing', async () => {
    const awake = await deployed('idle-wake');
    const sleep = await call(kiln, 'POST', '/environments/idle-wake/sleep');
    await asleep('idle-wake', sleep.body.deploymentId);

    const wakes = await Promise.all(
      Array.from({ length: 8 }, () => call(kiln, 'POST', '/environments/idle-wake/wake')),
    );
    assert.ok(wakes.every((wake) => wake.status === 202));
    const ids = new Set(wakes.map((wake) => wake.body.deploymentId));
    assert.equal(ids.size, 1, `one wake, not ${[...ids].join(', ')}`);
    const [id] = ids;
    const wake = await awaitDeployment(kiln, 'idle-wake', id);
    assert.equal(wake.status, 'succeeded');
    assert.equal(wake.trigger, 'wake');
    assert.equal(await fetchText(awake.endpoint), 'sample-app v1\n');

    const again = await call(kiln, 'POST', '/environments/idle-wake/wake');
    assert.equal(again.status, 202);
    assert.equal(again.body.deploymentId, null, 'awake: nothing to do');
    await assertInvariants();
  });

  it('a wake asked while it is going to sleep runs after the sleep, and leaves it awake', async () => {
    const awake = await deployed('idle-race');
    const sleep = await call(kiln, 'POST', '/environments/idle-race/sleep');
    const wake = await call(kiln, 'POST', '/environments/idle-race/wake');
    assert.equal(wake.status, 202);
    const slept = await awaitDeployment(kiln, 'idle-race', sleep.body.deploymentId);
    if (wake.body.deploymentId === null) {
      // The sleep had not started: called off, and nothing was torn down.
      assert.equal(slept.status, 'cancelled', JSON.stringify(slept));
      assert.equal(
        (await call(kiln, 'GET', '/environments/idle-race')).body.liveStack.stackId,
        awake.liveStack.stackId,
      );
    } else {
      // It was under way: it finished, and the wake ran after it.
      assert.equal(slept.status, 'succeeded', JSON.stringify(slept));
      const woken = await awaitDeployment(kiln, 'idle-race', wake.body.deploymentId);
      assert.equal(woken.status, 'succeeded', JSON.stringify(woken));
    }
    assert.equal((await settled('idle-race')).status, 'live');
    assert.equal(await fetchText(awake.endpoint), 'sample-app v1\n');
    await assertInvariants();
  });

  it('a push to its branch wakes it by deploying the pushed commit', async () => {
    const source = { provider: 'github', repository: 'Codertocat/Hello-World', branch: 'idle' };
    const awake = await deployed('idle-push', { source });
    const sleep = await call(kiln, 'POST', '/environments/idle-push/sleep');
    await asleep('idle-push', sleep.body.deploymentId);

    const commit = commitOf('idle-push-1');
    const pushed = await deliver(
      kiln,
      githubPush({ branch: 'idle', commit, committedAt: new Date().toISOString() }),
    );
    assert.equal(pushed.status, 202, JSON.stringify(pushed.body));
    await eventually('the pushed commit to serve', async () =>
      (await fetchText(awake.endpoint)) === `sample-app ${commit}\n` ? true : undefined,
    );
    const woken = await settled('idle-push');
    assert.equal(woken.status, 'live');
    assert.equal(woken.liveStack.version, commit);
    await assertInvariants();
  });

  it('the idle sweep puts an idle dev environment to sleep, but not a snoozed one nor a prod one', async () => {
    await deployed('idle-sweep-dev');
    await deployed('idle-sweep-snoozed');
    const prod = await deployed('idle-sweep-prod', { tier: 'prod' });
    assert.equal(prod.idle.afterMinutes, null, 'prod: never by default');
    assert.equal(prod.sleepsAt, null);
    const until = new Date(Date.now() + 3 * 3600_000).toISOString();
    const snooze = await call(kiln, 'POST', '/environments/idle-sweep-snoozed/snooze', { body: { until } });
    assert.equal(snooze.status, 200, JSON.stringify(snooze.body));
    assert.equal(snooze.body.snoozedUntil, until);
    assert.equal(snooze.body.sleepsAt, until);

    // The sweep as the schedule runs it, two hours from now (an injected clock).
    const later = { ...kiln.ports, clock: { now: () => new Date(Date.now() + 2 * 3600_000) } };
    const report = await sweepIdle(later, SWEEP);
    const mine = report.started.filter((s) => s.environment.startsWith('idle-sweep-'));
    assert.deepEqual(
      mine.map((s) => [s.environment, s.action]),
      [['idle-sweep-dev', 'sleep']],
    );
    const slept = await asleep('idle-sweep-dev', (mine[0] as { deploymentId: string }).deploymentId);
    assert.equal(slept.status, 'sleeping');
    for (const name of ['idle-sweep-snoozed', 'idle-sweep-prod']) {
      assert.equal((await call(kiln, 'GET', `/environments/${name}`)).body.status, 'live', name);
    }
    // The sweep also put this file's other idle environments to sleep: the invariants hold once they are.
    for (const { environment, deploymentId } of report.started) {
      if (deploymentId) await awaitDeployment(kiln, environment, deploymentId);
    }
    await assertInvariants();
  });

  it('the waker, as the ALB invokes it on AWS: 503 with Retry-After and a waking-up page while it starts the wake', async () => {
    const awake = await deployed('idle-waker');
    const sleep = await call(kiln, 'POST', '/environments/idle-waker/sleep');
    await asleep('idle-waker', sleep.body.deploymentId);
    const invoke = (host: string, method = 'POST') =>
      fetch(`${kiln.apiUrl}/_targets/wakeOnRequest`, {
        method,
        headers: { 'content-type': 'application/json' },
        ...(method === 'POST'
          ? {
              body: JSON.stringify({
                requestContext: {
                  elb: {
                    targetGroupArn: 'arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/kiln-waker/1',
                  },
                },
                httpMethod: 'GET',
                path: '/',
                queryStringParameters: {},
                headers: { host },
                body: '',
                isBase64Encoded: false,
              }),
            }
          : {}),
      });
    const answer = await invoke('idle-waker.envs.example.com');
    assert.equal(answer.status, 200, 'the invocation itself succeeds');
    const result = (await answer.json()) as {
      statusCode: number;
      headers: Record<string, string>;
      body: string;
    };
    assert.equal(result.statusCode, 503);
    assert.equal(result.headers['retry-after'], '10');
    assert.match(result.body, /idle-waker was asleep and is waking up/);
    await eventually('the wake to put it live', async () =>
      (await call(kiln, 'GET', '/environments/idle-waker')).body.status === 'live' ? true : undefined,
    );
    assert.equal(await fetchText(awake.endpoint), 'sample-app v1\n');

    const unknown = (await (await invoke('no-such-env.envs.example.com')).json()) as { statusCode: number };
    assert.equal(unknown.statusCode, 404);
    const hostile = (await (await invoke('../../etc.example.com')).json()) as { statusCode: number };
    assert.equal(hostile.statusCode, 404);
    assert.equal((await invoke('idle-waker.example.com', 'GET')).status, 405);
    await assertInvariants();
  });

  it('refuses what makes no sense, with a problem naming it, and changes nothing', async () => {
    const put = await call(kiln, 'PUT', '/environments/idle-bad', {
      body: { ...quickEnvironmentBody('v1'), idle: { afterMinutes: 30, sleepAt: 'cron(0 25 * * ? *)' } },
    });
    assert.equal(put.status, 400);
    assert.match(JSON.stringify(put.body), /sleepAt/);
    const zone = await call(kiln, 'PUT', '/environments/idle-bad', {
      body: { ...quickEnvironmentBody('v1'), idle: { afterMinutes: 30, timezone: 'Mars/Olympus' } },
    });
    assert.equal(zone.status, 400);
    assert.match(JSON.stringify(zone.body), /IANA time zone/);
    assert.equal((await call(kiln, 'GET', '/environments/idle-bad')).status, 404);

    const past = await call(kiln, 'POST', '/environments/idle-http/snooze', {
      body: { until: new Date(Date.now() - 60_000).toISOString() },
    });
    assert.equal(past.status, 400);
    assert.match(past.body.detail ?? JSON.stringify(past.body), /until/);
    const other = await call(kiln, 'POST', '/environments/idle-http/sleep', { token: 'other-token' });
    assert.equal(other.status, 403);
  });

  it('an idle policy of its own: office hours with a time zone, shown in GET', async () => {
    const idle = {
      afterMinutes: null,
      sleepAt: 'cron(0 19 ? * MON-FRI *)',
      wakeAt: 'cron(0 8 ? * MON-FRI *)',
      timezone: 'Europe/Paris',
    };
    const environment = await deployed('idle-office', { idle });
    assert.deepEqual(environment.idle, { ...idle, source: 'environment' });
    const sleepsAt = new Date(environment.sleepsAt);
    const parisHour = Number(
      new Intl.DateTimeFormat('en-GB', { hour: 'numeric', timeZone: 'Europe/Paris' }).format(sleepsAt),
    );
    assert.equal(parisHour, 19, `sleeps at 19:00 in Paris, not ${environment.sleepsAt}`);
  });
});
