import { verifyAuditChain } from '../../core/audit.ts';
import { ownedEnvironment } from '../../core/requests.ts';
import { environmentName } from '../../shared/api-schemas.ts';
import { apiHandler, json, pathParameter } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';

/**
 * GET /environments/{name}/audit/verify: recomputes the environment's audit chain from its first event;
 * 200 either way, `intact` with the count, or the first event that does not match (`mismatch`).
 */
export const handler = apiHandler(storePorts, async ({ event, actor, ports }) => {
  const environment = await ownedEnvironment(ports, actor, pathParameter(event, 'name', environmentName));
  return json(200, verifyAuditChain(environment.name, await ports.store.readAuditTrail(environment.name)));
});
