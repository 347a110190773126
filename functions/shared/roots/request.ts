import { systemClock } from '../../core/ports/clock.ts';
import { buildAwsEvents } from '../aws/events.ts';
import { buildAwsStore } from '../aws/store.ts';
import { buildAwsWorkflows } from '../aws/workflows.ts';
import { compositionRoot } from '../wiring.ts';

/** Changing desired state and announcing it: the API's writes, taking the lease. DynamoDB, Step Functions, EventBridge. */
export const requestPorts = compositionRoot(() => ({
  store: buildAwsStore(),
  workflows: buildAwsWorkflows(),
  events: buildAwsEvents(),
  clock: systemClock,
}));
