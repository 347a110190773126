import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/** The parts of an OpenAPI 3.1 document an answer is checked against. */
interface Document {
  paths: Record<string, Record<string, { responses: Record<string, DocumentedResponse> }>>;
}

interface DocumentedResponse {
  headers?: Record<string, { required?: boolean; schema: object }>;
  content?: Record<string, { schema: object }>;
}

/** An answer as a client saw it. */
export interface Answer {
  status: number;
  /** The Content-Type header, as sent. */
  contentType: string | null;
  headers?: Headers;
  body: unknown;
}

/** The `$id` the document is known by to the validator, so its `#/components/...` references resolve. */
const DOCUMENT_ID = 'https://kiln.invalid/openapi.json';

// ajv-formats is CommonJS: its default export is the plugin (typed as the module namespace).
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

/**
 * Checks answers against an OpenAPI 3.1 document: the route must document the answer's status, the
 * Content-Type must be one it documents, the body must validate against its schema (JSON Schema 2020-12,
 * with formats), and every header it documents as required must be there and valid. Remembers which
 * routes and statuses it checked.
 */
export function contractOf(document: Document) {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats(ajv);
  // The document's own fields are no JSON Schema keywords: known to the validator, they are left alone,
  // and strict mode still refuses an unknown keyword inside a schema.
  ajv.addVocabulary(Object.keys(document));
  ajv.addSchema({ ...document, $id: DOCUMENT_ID });
  const validatorOf = (...path: string[]) => {
    const pointer = path.map((token) =>
      encodeURIComponent(token.replaceAll('~', '~0').replaceAll('/', '~1')),
    );
    const validate = ajv.getSchema(`${DOCUMENT_ID}#/${pointer.join('/')}`);
    assert.ok(validate, `no schema at ${path.join(' ')}`);
    return validate;
  };
  const checked = new Map<string, Set<number>>();

  return {
    /** Throws (an AssertionError saying why) unless `answer` is one the document gives `route`. */
    check(route: { method: string; path: string }, answer: Answer): void {
      const what = `${route.method} ${route.path} answered ${answer.status} ${JSON.stringify(answer.body)?.slice(0, 400)}`;
      const method = route.method.toLowerCase();
      const operation = document.paths[route.path]?.[method];
      assert.ok(operation, `${route.method} ${route.path} is not in the document`);
      const documented = operation.responses[String(answer.status)];
      assert.ok(documented, `${what}: the document does not describe this status`);
      const mediaType = answer.contentType?.split(';')[0]?.trim() ?? '';
      const content = documented.content ?? {};
      assert.ok(
        mediaType in content,
        `${what}: Content-Type ${answer.contentType} is not one the document gives (${Object.keys(content).join(', ')})`,
      );
      const validate = validatorOf(
        'paths',
        route.path,
        method,
        'responses',
        String(answer.status),
        'content',
        mediaType,
        'schema',
      );
      assert.ok(validate(answer.body), `${what}: the body does not fit: ${ajv.errorsText(validate.errors)}`);
      for (const [name, header] of Object.entries(documented.headers ?? {})) {
        const value = answer.headers?.get(name);
        if (value === null || value === undefined) {
          assert.ok(!header.required, `${what}: the required header ${name} is missing`);
          continue;
        }
        const validateHeader = validatorOf(
          'paths',
          route.path,
          method,
          'responses',
          String(answer.status),
          'headers',
          name,
          'schema',
        );
        assert.ok(validateHeader(value), `${what}: header ${name}: ${ajv.errorsText(validateHeader.errors)}`);
      }
      const key = `${route.method} ${route.path}`;
      checked.set(key, (checked.get(key) ?? new Set()).add(answer.status));
    },
    /** The statuses checked so far, by route (`METHOD /path`). */
    checked: (): ReadonlyMap<string, ReadonlySet<number>> => checked,
  };
}
