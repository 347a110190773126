import { systemClock } from '../../core/ports/clock.ts';
import { compositionRoot } from '../wiring.ts';

/** Answering from what the bundle carries (the OpenAPI document): the clock only, no AWS client. */
export const clockPorts = compositionRoot(() => ({ clock: systemClock }));
