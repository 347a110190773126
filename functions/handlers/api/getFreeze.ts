import { describeFreeze, ownedFreeze } from '../../core/freezes.ts';
import { freezeId } from '../../shared/api-schemas.ts';
import { apiHandler, etag, json, pathParameter } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';

/** GET /freezes/{id}: a freeze of the caller's team, with its window now and the next one. */
export const handler = apiHandler(storePorts, async ({ event, actor, ports }) => {
  const id = pathParameter(event, 'id', freezeId);
  const freeze = await ownedFreeze(ports, actor, id, 'freeze:read');
  return json(200, await describeFreeze(freeze, ports.clock.now()), etag(freeze.version));
});
