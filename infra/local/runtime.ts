import { chmod, mkdir, readdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import { LocalBusEvents } from '../../functions/adapters/local/bus-events.ts';
import { DaemonTraffic } from '../../functions/adapters/local/daemon-traffic.ts';
import { EnvSecrets } from '../../functions/adapters/local/env-secrets.ts';
import { LocalPushQueue } from '../../functions/adapters/local/local-push-queue.ts';
import { JsonStateFile } from '../../functions/adapters/local/state-file.ts';
import { LocalStepFunctions } from '../../functions/adapters/local/step-functions.ts';
import { systemClock } from '../../functions/core/ports/clock.ts';
import type { Ports } from '../../functions/core/ports/index.ts';
import { PUSH_QUEUE, ROUTES, wakerOf } from '../../functions/manifest.ts';
import { logger } from '../../functions/shared/logger.ts';
import { wirePorts } from '../../functions/shared/wiring.ts';
import type { LocalConfig } from './config.ts';
import { loadApiHandlers, loadTargetHandlers, loadTaskHandlers } from './entry-points.ts';
import { EventSources } from './event-sources.ts';
import { startGateway, TARGETS_PATH } from './gateway.ts';
import { type Provider, startProvider } from './providers.ts';

const PROJECT_ROOT = resolve(import.meta.dirname, '../..');
const STATE_MACHINES_DIR = join(PROJECT_ROOT, 'state-machines');

/** A running embedded Kiln. */
export interface Kiln {
  apiUrl: string;
  ports: Ports;
  workflows: LocalStepFunctions;
  /** The embedded buses, queues and schedules. */
  sources: EventSources;
  /** Which state, compute and traffic this control plane drives. */
  provider: string;
  /** Stops everything it started; instances and in-flight workflows come back on the next start. */
  close(): Promise<void>;
}

/**
 * What a running embedded Kiln writes to `<data folder>/runtime.json` (private to its user), so that a
 * tool on the same host can check the real state behind the API: the invariants checker of the tests.
 */
export interface RuntimeDescription {
  pid: number;
  apiUrl: string;
  /** The embedded DynamoDB's endpoint (absent in hybrid mode, where the table is in AWS). */
  databaseEndpoint?: string;
  tableName: string;
}

export const RUNTIME_FILE = 'runtime.json';

/**
 * Starts embedded Kiln: its provider (embedded: dynalite on disk, process compute, the traffic daemon;
 * or AWS), the ASL runner over the real state machines, and the gateway in front of the real API
 * handlers. Before it serves, it takes over what the previous run left: instances still running are
 * adopted (or stopped, if no record wants them), endpoints keep serving, interrupted workflows resume
 * at the state they were in.
 */
export async function startKiln(config: LocalConfig): Promise<Kiln> {
  await makePrivate(config.dataDir);
  const provider = await startProvider(config);
  try {
    return await startControlPlane(config, provider);
  } catch (error) {
    // A half-started Kiln (say, the API port was taken) leaves no database or new instance running, but
    // a data plane that already served (after a crash) goes on serving.
    await provider.abandon();
    throw error;
  }
}

/**
 * The data folder holds specs (with their secrets), instance logs and the database: it and everything in
 * it are made private to the user running Kiln, including what an older version created more widely.
 */
async function makePrivate(dataDir: string): Promise<void> {
  // Everything this process creates from now on (dynalite's files too) is born private.
  process.umask(0o077);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await chmod(dataDir, 0o700);
  for (const entry of await readdir(dataDir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isDirectory()) await chmod(path, 0o700);
    else if (entry.isFile()) await chmod(path, 0o600);
  }
}

async function startControlPlane(config: LocalConfig, provider: Provider): Promise<Kiln> {
  const log = (message: string, detail?: object) => logger.info(message, { ...detail });
  const sources = await EventSources.open({
    dataDir: config.dataDir,
    webhooks: config.eventWebhooks,
    log,
    ...(config.upkeepPeriodSeconds ? { upkeepPeriodSeconds: config.upkeepPeriodSeconds } : {}),
  });
  const workflows = await LocalStepFunctions.create({
    stateMachinesDir: STATE_MACHINES_DIR,
    tasks: await loadTaskHandlers(),
    executionsDir: join(config.dataDir, 'executions'),
    ...(config.approvalTimeoutSeconds ? { callbackTimeoutSeconds: config.approvalTimeoutSeconds } : {}),
    log: (message, detail) => logger.info(message, { ...detail }),
  });
  const ports: Ports = {
    store: provider.store,
    compute: provider.compute,
    traffic: provider.traffic,
    workflows,
    events: new LocalBusEvents(sources.kilnBus, (message, detail) => logger.error(message, { ...detail })),
    pushQueue: new LocalPushQueue(sources.queue(PUSH_QUEUE)),
    secrets: new EnvSecrets({ github: config.githubWebhookSecret }),
    hooks: provider.hooks,
    clock: systemClock,
  };
  wirePorts(ports);
  logger.info(`took over from the previous run: ${await provider.restore()}`);
  const gateway = await startGateway({
    host: config.host,
    port: config.apiPort,
    tokens: config.tokens,
    routes: ROUTES,
    handlers: await loadApiHandlers(),
    targets: await loadTargetHandlers(),
  }).catch(async (error: NodeJS.ErrnoException) => {
    await workflows.shutdown();
    await sources.close();
    throw error.code === 'EADDRINUSE'
      ? new Error(`port ${config.apiPort} is in use: stop what uses it or set KILN_API_PORT`)
      : error;
  });
  // A request to a sleeping environment's endpoint is held while the waker wakes it.
  if (provider.traffic instanceof DaemonTraffic) {
    await provider.traffic.setWakeHold({
      url: `${gateway.url}${TARGETS_PATH}${WAKER}`,
      holdSeconds: config.wakeHoldSeconds,
    });
  }
  await workflows.resumeInterrupted();
  await sources.startConsumers();
  const runtimeFile = new JsonStateFile<RuntimeDescription>(join(config.dataDir, RUNTIME_FILE));
  await runtimeFile.write({
    pid: process.pid,
    apiUrl: gateway.url,
    tableName: config.tableName,
    ...(provider.databaseEndpoint ? { databaseEndpoint: provider.databaseEndpoint } : {}),
  });
  return {
    apiUrl: gateway.url,
    ports,
    workflows,
    sources,
    provider: provider.description,
    close: async () => {
      await closeServer(gateway.server);
      await sources.close();
      await workflows.shutdown();
      await provider.close();
      await runtimeFile.remove();
    },
  };
}

/** The ALB target a parked endpoint invokes. */
const WAKER = wakerOf().name;

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
