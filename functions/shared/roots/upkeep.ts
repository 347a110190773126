import { systemClock } from '../../core/ports/clock.ts';
import { buildAwsEvents } from '../aws/events.ts';
import { buildAwsStore } from '../aws/store.ts';
import { buildAwsTraffic } from '../aws/traffic.ts';
import { buildAwsWorkflows } from '../aws/workflows.ts';
import { compositionRoot } from '../wiring.ts';

/** Scheduled upkeep: finding what is due, reading request counts, starting sleeps and wakes. DynamoDB, ELBv2/CloudWatch, Step Functions, EventBridge. */
export const upkeepPorts = compositionRoot(() => ({
  store: buildAwsStore(),
  workflows: buildAwsWorkflows(),
  events: buildAwsEvents(),
  traffic: buildAwsTraffic(),
  clock: systemClock,
}));
