import { systemClock } from '../../core/ports/clock.ts';
import { buildAwsPushQueue } from '../aws/push-queue.ts';
import { buildAwsSecrets } from '../aws/secrets.ts';
import { compositionRoot } from '../wiring.ts';

/** Accepting pushes at the edge: the webhook secret and the push queue. Secrets Manager, SQS; no table. */
export const ingestPorts = compositionRoot(() => ({
  pushQueue: buildAwsPushQueue(),
  secrets: buildAwsSecrets(),
  clock: systemClock,
}));
