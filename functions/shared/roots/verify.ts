import { systemClock } from '../../core/ports/clock.ts';
import { buildAwsHooks } from '../aws/hooks.ts';
import { buildAwsStore } from '../aws/store.ts';
import { buildAwsTraffic } from '../aws/traffic.ts';
import { compositionRoot } from '../wiring.ts';

/** Verifying a new stack through its test route with the team's hook functions. DynamoDB, ELBv2, Lambda. */
export const verifyPorts = compositionRoot(() => ({
  store: buildAwsStore(),
  traffic: buildAwsTraffic(),
  hooks: buildAwsHooks(),
  clock: systemClock,
}));
