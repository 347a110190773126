import type { Clock } from './clock.ts';
import type { Compute } from './compute.ts';
import type { EventPublisher } from './events.ts';
import type { Hooks } from './hooks.ts';
import type { PushQueue } from './push-queue.ts';
import type { Secrets } from './secrets.ts';
import type { StateStore } from './state-store.ts';
import type { Traffic } from './traffic.ts';
import type { Workflows } from './workflows.ts';

/** Everything the core needs from the outside world, built once by the composition root. */
export interface Ports {
  store: StateStore;
  compute: Compute;
  traffic: Traffic;
  workflows: Workflows;
  events: EventPublisher;
  pushQueue: PushQueue;
  secrets: Secrets;
  hooks: Hooks;
  clock: Clock;
}

/** A port that reaches the outside world (the clock is everywhere and needs nothing). */
export type PortName = Exclude<keyof Ports, 'clock'>;

/**
 * The port sets the core's functions take, each the least one: a handler's composition root builds
 * exactly one of them, and so its bundle carries only those clients and its function gets only that
 * configuration (see functions/manifest.ts).
 */

/** Reading records: the API's GET routes, planning a teardown. */
export type StorePorts = Pick<Ports, 'store' | 'clock'>;

/** Changing desired state and announcing it: the API's writes, taking the lease. */
export type RequestPorts = Pick<Ports, 'store' | 'workflows' | 'events' | 'clock'>;

/** Recording an outcome and announcing it: finishing a deployment. */
export type AnnouncePorts = Pick<Ports, 'store' | 'events' | 'clock'>;

/** Moving traffic and probing targets, launching nothing. */
export type TrafficPorts = Pick<Ports, 'store' | 'traffic' | 'clock'>;

/** Launching or terminating a stack's instances, and their targets. */
export type StackPorts = Pick<Ports, 'store' | 'compute' | 'traffic' | 'clock'>;

/** Scheduled upkeep: starting deployments on what the traffic layer observes (the drift check). */
export type UpkeepPorts = Pick<Ports, 'store' | 'traffic' | 'workflows' | 'events' | 'clock'>;

/** Accepting pushes at the edge: checking their signature and queueing them, nothing else. */
export type IngestPorts = Pick<Ports, 'pushQueue' | 'secrets' | 'clock'>;
