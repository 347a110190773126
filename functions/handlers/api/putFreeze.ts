import { describeFreeze, putFreeze } from '../../core/freezes.ts';
import { freezeId } from '../../shared/api-schemas.ts';
import { putFreezeBody } from '../../shared/freeze-schemas.ts';
import { apiHandler, etag, ifMatchOf, json, parseBody, pathParameter } from '../../shared/http.ts';
import { announcePorts } from '../../shared/roots/announce.ts';

/** PUT /freezes/{id}: create (201) or replace (200) a freeze window of the caller's team (If-Match optional). */
export const handler = apiHandler(announcePorts, async ({ event, actor, ports }) => {
  const id = pathParameter(event, 'id', freezeId);
  const ifMatch = ifMatchOf(event);
  const body = parseBody(event, putFreezeBody);
  const { freeze, created } = await putFreeze(ports, actor, { id, ...body }, ifMatch);
  return json(created ? 201 : 200, await describeFreeze(freeze, ports.clock.now()), etag(freeze.version));
});
