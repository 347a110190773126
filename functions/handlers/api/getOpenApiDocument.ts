import type { APIGatewayProxyEvent } from 'aws-lambda';
import document from '../../../docs/openapi.json' with { type: 'json' };
import { json, openRouteHandler } from '../../shared/http.ts';
import { clockPorts } from '../../shared/roots/clock.ts';

/**
 * GET /openapi.json: the API's contract, open to all (it holds no team's data; tools read it before they
 * have credentials). It is docs/openapi.json, generated from the handlers' zod schemas by `npm run openapi`
 * (a test keeps it up to date) and carried in the bundle, so answering computes nothing. Its server is
 * where this request came through: API Gateway's stage (`/v1`), or the root of the embedded gateway.
 */
export const handler = openRouteHandler(clockPorts, async ({ event }) =>
  json(200, { ...document, servers: [{ url: basePathOf(event), description: 'this Kiln' }] }),
);

/** The path the API is reached under: what the request's full path has before the route's own path. */
function basePathOf(event: APIGatewayProxyEvent): string {
  const full = event.requestContext?.path ?? event.path;
  const base = full.endsWith(event.path) ? full.slice(0, full.length - event.path.length) : '';
  return base || '/';
}
