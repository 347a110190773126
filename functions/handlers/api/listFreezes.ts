import { describeFreeze } from '../../core/freezes.ts';
import { apiHandler, json } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';

/** GET /freezes: the caller's team's freezes, each with its window now and the next one. */
export const handler = apiHandler(storePorts, async ({ caller, ports }) => {
  const now = ports.clock.now();
  const freezes = await ports.store.listFreezesByTeam(caller.team);
  return json(200, { freezes: await Promise.all(freezes.map((freeze) => describeFreeze(freeze, now))) });
});
