import { apiHandler, json } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { templateView } from '../../shared/views.ts';

/** GET /templates: the caller's team's preview templates. */
export const handler = apiHandler(storePorts, async ({ caller, ports }) => {
  const templates = await ports.store.listTemplatesByTeam(caller.team);
  return json(200, { templates: templates.map(templateView) });
});
