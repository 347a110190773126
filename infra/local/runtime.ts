import { mkdir, readdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { basename, join, resolve } from 'node:path';
import { LocalStepFunctions, type TaskHandler } from '../../functions/adapters/local/step-functions.ts';
import { systemClock } from '../../functions/core/ports/clock.ts';
import type { Ports } from '../../functions/core/ports/index.ts';
import { logger } from '../../functions/shared/logger.ts';
import { routes } from '../../functions/shared/routes.ts';
import { wirePorts } from '../../functions/shared/wiring.ts';
import type { LocalConfig } from './config.ts';
import { type ApiHandler, startGateway } from './gateway.ts';
import { type Provider, startProvider } from './providers.ts';

const PROJECT_ROOT = resolve(import.meta.dirname, '../..');
const TASKS_DIR = join(PROJECT_ROOT, 'functions/handlers/tasks');
const API_DIR = join(PROJECT_ROOT, 'functions/handlers/api');
const STATE_MACHINES_DIR = join(PROJECT_ROOT, 'state-machines');

/** A running embedded Kiln. */
export interface Kiln {
  apiUrl: string;
  ports: Ports;
  workflows: LocalStepFunctions;
  /** Which state, compute and traffic this control plane drives. */
  provider: string;
  /** Stops everything it started; instances and in-flight workflows come back on the next start. */
  close(): Promise<void>;
}

/**
 * Starts embedded Kiln: its provider (embedded: dynalite on disk, process compute, proxy traffic; or
 * AWS), the ASL runner over the real state machines, and the gateway in front of the real API handlers.
 * Then it reconciles what the previous run left: instances and endpoints come back, interrupted
 * workflows resume.
 */
export async function startKiln(config: LocalConfig): Promise<Kiln> {
  await mkdir(config.dataDir, { recursive: true });
  const provider = await startProvider(config);
  try {
    return await startControlPlane(config, provider);
  } catch (error) {
    // A half-started Kiln (say, the API port was taken) must not leave instances or the database running.
    await provider.close();
    throw error;
  }
}

async function startControlPlane(config: LocalConfig, provider: Provider): Promise<Kiln> {
  const workflows = await LocalStepFunctions.create({
    stateMachinesDir: STATE_MACHINES_DIR,
    tasks: await loadHandlers<TaskHandler>(TASKS_DIR),
    executionsDir: join(config.dataDir, 'executions'),
    log: (message, detail) => logger.info(message, { ...detail }),
  });
  const ports: Ports = {
    store: provider.store,
    compute: provider.compute,
    traffic: provider.traffic,
    workflows,
    clock: systemClock,
  };
  wirePorts(ports);
  await provider.restore();
  const gateway = await startGateway({
    host: config.host,
    port: config.apiPort,
    tokens: config.tokens,
    routes,
    handlers: new Map(Object.entries(await loadHandlers<ApiHandler>(API_DIR))),
  }).catch(async (error: NodeJS.ErrnoException) => {
    await workflows.shutdown();
    throw error.code === 'EADDRINUSE'
      ? new Error(`port ${config.apiPort} is in use: stop what uses it or set KILN_API_PORT`)
      : error;
  });
  await workflows.resumeInterrupted();
  return {
    apiUrl: gateway.url,
    ports,
    workflows,
    provider: provider.description,
    close: async () => {
      await closeServer(gateway.server);
      await workflows.shutdown();
      await provider.close();
    },
  };
}

/** Imports every handler module of a folder: file name (without `.ts`) → its exported `handler`. */
async function loadHandlers<H>(dir: string): Promise<Record<string, H>> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.ts'));
  const entries = await Promise.all(
    files.map(async (file) => {
      const module = (await import(join(dir, file))) as { handler: H };
      return [basename(file, '.ts'), module.handler] as const;
    }),
  );
  return Object.fromEntries(entries);
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
