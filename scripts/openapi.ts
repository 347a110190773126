/**
 * `npm run openapi`: writes the OpenAPI document (infra/openapi.ts, generated from the zod schemas) to
 * docs/openapi.json, which GET /openapi.json serves. Run it after changing a route or a schema; a test
 * fails while the file is not what this writes.
 */
import { writeFileSync } from 'node:fs';
import { OPENAPI_FILE, openApiText } from '../infra/openapi.ts';

writeFileSync(OPENAPI_FILE, openApiText());
console.log(`wrote ${OPENAPI_FILE}`);
