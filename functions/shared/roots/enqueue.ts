import { systemClock } from '../../core/ports/clock.ts';
import { buildAwsPushQueue } from '../aws/push-queue.ts';
import { compositionRoot } from '../wiring.ts';

/** Passing pushes from another source (an EventBridge rule) to the push queue. SQS only. */
export const enqueuePorts = compositionRoot(() => ({ pushQueue: buildAwsPushQueue(), clock: systemClock }));
