import { ownedTemplate } from '../../core/templates.ts';
import { templateName } from '../../shared/api-schemas.ts';
import { apiHandler, etag, json, pathParameter } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { templateView } from '../../shared/views.ts';

/** GET /templates/{name}: a preview template of the caller's team. */
export const handler = apiHandler(storePorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', templateName);
  const template = await ownedTemplate(ports, actor, name, 'template:read');
  return json(200, templateView(template), etag(template.version));
});
