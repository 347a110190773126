import { systemClock } from '../../core/ports/clock.ts';
import { buildAwsEvents } from '../aws/events.ts';
import { buildAwsStore } from '../aws/store.ts';
import { compositionRoot } from '../wiring.ts';

/** Recording an outcome and announcing it: finishing a deployment. DynamoDB, EventBridge. */
export const announcePorts = compositionRoot(() => ({
  store: buildAwsStore(),
  events: buildAwsEvents(),
  clock: systemClock,
}));
