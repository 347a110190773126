import { systemClock } from '../../core/ports/clock.ts';
import { buildAwsStore } from '../aws/store.ts';
import { buildAwsTraffic } from '../aws/traffic.ts';
import { compositionRoot } from '../wiring.ts';

/** Moving traffic and probing targets, launching nothing. DynamoDB, ELBv2. */
export const trafficPorts = compositionRoot(() => ({
  store: buildAwsStore(),
  traffic: buildAwsTraffic(),
  clock: systemClock,
}));
