import { join, resolve } from 'node:path';
import type { TaskHandler } from '../../functions/adapters/local/step-functions.ts';
import { ENTRY_POINTS, type EntryPoint, type Trigger } from '../../functions/manifest.ts';
import type { ApiHandler, TargetHandler } from './gateway.ts';

const HANDLERS_DIR = resolve(import.meta.dirname, '../../functions/handlers');

/** An entry point with its handler module loaded, as Lambda would load it. */
export interface LoadedEntryPoint<H> {
  entry: EntryPoint;
  handler: H;
}

/** Imports the handler module of every entry point whose trigger is of `type` (from the manifest, nothing else). */
export async function loadEntryPoints<H>(type: Trigger['type']): Promise<LoadedEntryPoint<H>[]> {
  return Promise.all(
    ENTRY_POINTS.filter((entry) => entry.trigger.type === type).map(async (entry) => {
      const module = (await import(join(HANDLERS_DIR, `${entry.module}.ts`))) as { handler?: H };
      if (typeof module.handler !== 'function') {
        throw new Error(`functions/handlers/${entry.module}.ts does not export a handler`);
      }
      return { entry, handler: module.handler };
    }),
  );
}

/** Every workflow task handler: function name (`AcquireLease`) → its handler, for the ASL runner. */
export async function loadTaskHandlers(): Promise<Record<string, TaskHandler>> {
  const loaded = await loadEntryPoints<TaskHandler>('task');
  return Object.fromEntries(loaded.map(({ entry, handler }) => [entry.name, handler]));
}

/** Every REST route's handler, by entry point name, for the gateway. */
export async function loadApiHandlers(): Promise<Map<string, ApiHandler>> {
  const loaded = await loadEntryPoints<ApiHandler>('http');
  return new Map(loaded.map(({ entry, handler }) => [entry.name, handler]));
}

/** Every ALB target's handler (the waker), by entry point name, for the gateway. */
export async function loadTargetHandlers(): Promise<Map<string, TargetHandler>> {
  const loaded = await loadEntryPoints<TargetHandler>('target');
  return new Map(loaded.map(({ entry, handler }) => [entry.name, handler]));
}
