import { putTemplate } from '../../core/templates.ts';
import { templateName } from '../../shared/api-schemas.ts';
import { apiHandler, etag, ifMatchOf, json, parseBody, pathParameter } from '../../shared/http.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { putTemplateBody } from '../../shared/spec-schemas.ts';
import { templateView } from '../../shared/views.ts';

/** PUT /templates/{name}: create (201) or replace (200) a preview template (If-Match optional). */
export const handler = apiHandler(storePorts, async ({ event, actor, ports }) => {
  const name = pathParameter(event, 'name', templateName);
  const ifMatch = ifMatchOf(event);
  const body = parseBody(event, putTemplateBody);
  const { template, created } = await putTemplate(ports, actor, { name, ...body }, ifMatch);
  return json(created ? 201 : 200, templateView(template), etag(template.version));
});
