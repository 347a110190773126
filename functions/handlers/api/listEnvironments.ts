import { apiHandler, json } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { environmentView } from '../../shared/views.ts';

/** GET /environments: the caller's team's environments (deleted ones included, with their status). */
export const handler = apiHandler(storePorts, async ({ caller, ports }) => {
  const environments = await ports.store.listEnvironmentsByTeam(caller.team);
  return json(200, { environments: environments.map(environmentView) });
});
