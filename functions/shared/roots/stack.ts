import { systemClock } from '../../core/ports/clock.ts';
import { buildAwsCompute } from '../aws/compute.ts';
import { buildAwsStore } from '../aws/store.ts';
import { buildAwsTraffic } from '../aws/traffic.ts';
import { compositionRoot } from '../wiring.ts';

/** Launching or terminating a stack's instances, and their targets. DynamoDB, EC2, ELBv2. */
export const stackPorts = compositionRoot(() => ({
  store: buildAwsStore(),
  compute: buildAwsCompute(),
  traffic: buildAwsTraffic(),
  clock: systemClock,
}));
