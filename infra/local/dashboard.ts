import { readFileSync } from 'node:fs';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { problem } from '../../functions/shared/http.ts';
import {
  DASHBOARD_ASSETS,
  DASHBOARD_HEADERS,
  DASHBOARD_PATH,
  dashboardContentSecurityPolicy,
} from '../dashboard-assets.ts';

/** The dashboard's files by name, read once: they are small (about 60 KB in all) and never change while Kiln runs. */
const FILES = new Map(
  DASHBOARD_ASSETS.map((asset) => [
    asset.name,
    { body: readFileSync(asset.file, 'utf8'), contentType: asset.contentType },
  ]),
);

/** The meta policy, and what only a header can say: no page may frame the dashboard. */
const CONTENT_SECURITY_POLICY = `${dashboardContentSecurityPolicy()}; frame-ancestors 'none'`;

/**
 * Answers a request for the dashboard: one of its files by exact name (a path is looked up, never joined
 * to a folder, so `..` or an encoded slash names nothing), GET or HEAD only. The files hold no data and no
 * secret: what the page shows, it fetches from the API with the person's own token.
 */
export function serveDashboard(method: string, pathname: string): APIGatewayProxyResult {
  // The page's links are relative (so that they work under an API Gateway stage too): it needs its slash.
  if (pathname === DASHBOARD_PATH.slice(0, -1)) {
    return { statusCode: 308, headers: { location: DASHBOARD_PATH }, body: '' };
  }
  const file = FILES.get(pathname.slice(DASHBOARD_PATH.length));
  if (!file) return problem(404, `the dashboard has no file ${pathname.slice(0, 200)}`);
  if (method !== 'GET' && method !== 'HEAD') {
    return { ...problem(405, `${method} is not allowed on the dashboard: GET its files`), headers: ALLOW };
  }
  return {
    statusCode: 200,
    headers: {
      ...DASHBOARD_HEADERS,
      'Content-Type': file.contentType,
      'Content-Security-Policy': CONTENT_SECURITY_POLICY,
    },
    body: file.body,
  };
}

const ALLOW = { 'content-type': 'application/problem+json', allow: 'GET, HEAD' };
