import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ProcessCompute } from '../../functions/adapters/local/process-compute.ts';
import { ProxyTraffic } from '../../functions/adapters/local/proxy-traffic.ts';
import { LocalStepFunctions } from '../../functions/adapters/local/step-functions.ts';
import type { Actor } from '../../functions/core/actors.ts';
import { ArtifactNotReadyError } from '../../functions/core/errors.ts';
import { systemClock } from '../../functions/core/ports/clock.ts';
import type { Compute } from '../../functions/core/ports/compute.ts';
import type { Ports } from '../../functions/core/ports/index.ts';
import { putEnvironment } from '../../functions/core/requests.ts';
import { wirePorts } from '../../functions/shared/wiring.ts';
import { loadTaskHandlers } from '../../infra/local/entry-points.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';
import { fetchText } from '../support/kiln-process.ts';
import { sampleSpec } from '../support/specs.ts';
import { edgeTwins } from '../support/twins.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const caller: Actor = { trigger: 'api', principal: 'test', team: 'platform' };

/**
 * Issue 8, item 7: a pushed commit whose image is not baked yet. The real deploy state machine runs the
 * real tasks over process compute that answers ArtifactNotReadyError (as Ec2Compute does while no AMI
 * carries the version's tags) until the image "appears". ProvisionStack's Retry (every 30 s, 30
 * attempts) is compressed to 20 ms a retry, nothing else about it changed.
 */
describe('a deployment whose artifact is not ready yet', { timeout: 120_000 }, () => {
  let database: TestDatabase;
  let dataDir: string;
  let compute: ProcessCompute;
  let traffic: ProxyTraffic;
  let workflows: LocalStepFunctions;
  let ports: Ports;
  /** Versions whose image is not there yet, with how many more launches find it missing. */
  const baking = new Map<string, number>();
  let launchAttempts = 0;

  before(async () => {
    database = await startTestDatabase();
    dataDir = await mkdtemp(join(tmpdir(), 'kiln-artifact-'));
    compute = new ProcessCompute({ artifactsDir: join(ROOT, 'infra/local/artifacts') });
    traffic = new ProxyTraffic();
    const notBakedYet: Compute = {
      describeStack: (stackId) => compute.describeStack(stackId),
      terminateStack: (stackId) => compute.terminateStack(stackId),
      listTaggedStacks: () => compute.listTaggedStacks(),
      launchStack: async (...args) => {
        const [, spec] = args;
        launchAttempts++;
        const left = baking.get(spec.version) ?? 0;
        if (left > 0) {
          baking.set(spec.version, left - 1);
          throw new ArtifactNotReadyError(
            `no image of sample-app is tagged kiln:version=${spec.version} yet`,
          );
        }
        return compute.launchStack(...args);
      },
    };
    workflows = await LocalStepFunctions.create({
      stateMachinesDir: join(ROOT, 'state-machines'),
      tasks: await loadTaskHandlers(),
      executionsDir: join(dataDir, 'executions'),
      retryIntervalOverrides: { ProvisionStack: 20 },
    });
    ports = {
      store: database.store,
      compute: notBakedYet,
      traffic,
      workflows,
      ...edgeTwins(),
      clock: systemClock,
    };
    wirePorts(ports);
  });

  after(async () => {
    await workflows?.shutdown();
    await traffic?.close();
    await compute?.shutdown();
    await database?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function deploy(name: string, version: string) {
    const spec = sampleSpec({ version, capacity: 1, drainSeconds: 0 });
    spec.healthCheck.healthyThreshold = 1;
    const accepted = await putEnvironment(ports, caller, { name, team: 'platform', tier: 'dev', spec });
    await workflows.waitForIdle(60_000);
    const deployment = await ports.store.getDeployment(name, accepted.deploymentId as string);
    assert.ok(deployment);
    return deployment;
  }

  it('waits for the image and deploys it once it appears', async () => {
    baking.set('c0ffee1', 5);
    launchAttempts = 0;
    const deployment = await deploy('bake-late', 'c0ffee1');
    assert.equal(deployment.status, 'succeeded', JSON.stringify(deployment.error));
    assert.equal(launchAttempts, 6, 'five waits, then the launch');
    const environment = await ports.store.getEnvironment('bake-late');
    assert.equal(await fetchText(environment?.endpoint as string), 'sample-app c0ffee1\n');
  });

  it('gives up after its bounded wait, launching nothing, and says which image it waited for', async () => {
    baking.set('deadbee', Number.POSITIVE_INFINITY);
    launchAttempts = 0;
    const deployment = await deploy('bake-never', 'deadbee');
    assert.equal(deployment.status, 'failed', JSON.stringify(deployment));
    assert.equal(deployment.error?.name, 'ArtifactNotReadyError');
    assert.match(deployment.error?.message ?? '', /kiln:version=deadbee/);
    assert.equal(launchAttempts, 31, 'the first attempt and 30 retries');
    const stacks = await ports.store.listStacks('bake-never');
    for (const stack of stacks) assert.deepEqual(await compute.describeStack(stack.stackId), []);
  });
});
