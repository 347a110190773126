import { systemClock } from '../../core/ports/clock.ts';
import { buildAwsStore } from '../aws/store.ts';
import { compositionRoot } from '../wiring.ts';

/** Reading records: the API's GET routes, planning a teardown. DynamoDB only. */
export const storePorts = compositionRoot(() => ({ store: buildAwsStore(), clock: systemClock }));
