import { systemClock } from '../../core/ports/clock.ts';
import { buildAwsEvents } from '../aws/events.ts';
import { buildAwsStore } from '../aws/store.ts';
import { buildAwsTraffic } from '../aws/traffic.ts';
import { buildAwsWorkflows } from '../aws/workflows.ts';
import { compositionRoot } from '../wiring.ts';

/** Checking live stacks' health and redeploying what drifted. DynamoDB, ELBv2, Step Functions, EventBridge. */
export const repairPorts = compositionRoot(() => ({
  store: buildAwsStore(),
  traffic: buildAwsTraffic(),
  workflows: buildAwsWorkflows(),
  events: buildAwsEvents(),
  clock: systemClock,
}));
