import type { Clock } from './clock.ts';
import type { Compute } from './compute.ts';
import type { StateStore } from './state-store.ts';
import type { Traffic } from './traffic.ts';
import type { Workflows } from './workflows.ts';

/** Everything the core needs from the outside world, built once by the composition root. */
export interface Ports {
  store: StateStore;
  compute: Compute;
  traffic: Traffic;
  workflows: Workflows;
  clock: Clock;
}

/** What serving an API request needs: records and workflow starts, never compute or traffic. */
export type RequestPorts = Pick<Ports, 'store' | 'workflows' | 'clock'>;

/** What the workflow tasks that move traffic but launch nothing need: no compute. */
export type TrafficPorts = RequestPorts & Pick<Ports, 'traffic'>;
