import { deleteTemplate } from '../../core/templates.ts';
import { templateName } from '../../shared/api-schemas.ts';
import { apiHandler, json, pathParameter } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';

/** DELETE /templates/{name}: no new preview environments from it; the ones it made stay. */
export const handler = apiHandler(storePorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', templateName);
  await deleteTemplate(ports, actor, name);
  return json(200, { name, deleted: true });
});
