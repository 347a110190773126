import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The web dashboard's files: the pages under ui/ and the libraries they import from node_modules
 * (Preact, htm, aws4fetch), served as they are: no build step. This list is the only way to a file:
 * the embedded gateway (infra/local/dashboard.ts) and API Gateway (infra/constructs/dashboard.ts) serve
 * exactly these names under `/ui/` and nothing else, so no request path is ever turned into a file path.
 */

/** Where the dashboard is, on the API's own origin (on AWS under the stage: `<ApiUrl>ui/`). */
export const DASHBOARD_PATH = '/ui/';

/** Whether a request path is the dashboard's: `/ui` or under `/ui/` (served without a token). */
export function isDashboardPath(pathname: string): boolean {
  return pathname === DASHBOARD_PATH.slice(0, -1) || pathname.startsWith(DASHBOARD_PATH);
}

export interface DashboardAsset {
  /** Its name under DASHBOARD_PATH (one path segment; '' is the page itself). */
  name: string;
  /** The file on disk. */
  file: string;
  contentType: string;
}

const UI_DIR = resolve(import.meta.dirname, '../ui');
const HTML = 'text/html; charset=utf-8';
const JAVASCRIPT = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** A library's ES module as Node resolves its bare specifier, which is what the page's import map names. */
const library = (specifier: string) => fileURLToPath(import.meta.resolve(specifier));

export const DASHBOARD_ASSETS: readonly DashboardAsset[] = [
  { name: '', file: join(UI_DIR, 'index.html'), contentType: HTML },
  { name: 'app.js', file: join(UI_DIR, 'app.js'), contentType: JAVASCRIPT },
  { name: 'api.js', file: join(UI_DIR, 'api.js'), contentType: JAVASCRIPT },
  { name: 'timeline.js', file: join(UI_DIR, 'timeline.js'), contentType: JAVASCRIPT },
  { name: 'style.css', file: join(UI_DIR, 'style.css'), contentType: CSS },
  { name: 'icon.svg', file: join(UI_DIR, 'icon.svg'), contentType: 'image/svg+xml' },
  { name: 'preact.js', file: library('preact'), contentType: JAVASCRIPT },
  { name: 'preact-hooks.js', file: library('preact/hooks'), contentType: JAVASCRIPT },
  { name: 'htm.js', file: library('htm'), contentType: JAVASCRIPT },
  { name: 'aws4fetch.js', file: library('aws4fetch'), contentType: JAVASCRIPT },
];

/**
 * The page's Content-Security-Policy, read from its `<meta http-equiv>` so that it holds wherever the page
 * is served from (API Gateway cannot send a static header value that contains quotes). Nothing but the
 * dashboard's own files runs (plus the one inline import map, by its hash), and it talks only to its
 * own origin: the Kiln API.
 */
export function dashboardContentSecurityPolicy(): string {
  const page = readFileSync(join(UI_DIR, 'index.html'), 'utf8');
  const policy = /<meta http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(page)?.[1];
  if (!policy) throw new Error('ui/index.html has no Content-Security-Policy meta element');
  return policy;
}

/**
 * Headers every dashboard file is served with, besides its content type and the page's policy: no
 * content sniffing, no framing (a meta policy cannot forbid that), no referrer, and always revalidated so
 * a new Kiln never runs with an old page.
 */
export const DASHBOARD_HEADERS: Readonly<Record<string, string>> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};
