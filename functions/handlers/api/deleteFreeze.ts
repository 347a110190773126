import { deleteFreeze } from '../../core/freezes.ts';
import { freezeId } from '../../shared/api-schemas.ts';
import { apiHandler, json, pathParameter } from '../../shared/http.ts';
import { announcePorts } from '../../shared/roots/announce.ts';

/** DELETE /freezes/{id}: what it held goes on within a minute; a window it announced ends now. */
export const handler = apiHandler(announcePorts, async ({ event, actor, ports }) => {
  const id = pathParameter(event, 'id', freezeId);
  await deleteFreeze(ports, actor, id);
  return json(200, { id, deleted: true });
});
