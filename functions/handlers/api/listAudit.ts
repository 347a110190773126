import { ownedEnvironment } from '../../core/requests.ts';
import { auditListQuery, environmentName } from '../../shared/api-schemas.ts';
import { apiHandler, json, pathParameter, validate } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { auditEventView } from '../../shared/views.ts';

/**
 * GET /environments/{name}/audit?limit=&cursor=: the environment's audit trail, oldest first (events an
 * older Kiln recorded before the chain, then the chain by sequence), `limit` events a page (1-100, 50 by
 * default); `next`, when present, is the cursor of the following page.
 */
export const handler = apiHandler(storePorts, async ({ event, actor, ports }) => {
  const environment = await ownedEnvironment(ports, actor, pathParameter(event, 'name', environmentName));
  const { limit, cursor } = validate(auditListQuery, event.queryStringParameters ?? {}, 'the query');
  const page = await ports.store.pageAudit(environment.name, { limit, ...(cursor ? { after: cursor } : {}) });
  return json(200, { events: page.events.map(auditEventView), ...(page.next ? { next: page.next } : {}) });
});
