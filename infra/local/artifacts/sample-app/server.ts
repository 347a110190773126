/**
 * The `sample-app` artifact: the app embedded compute runs when a spec names `artifact: 'sample-app'`.
 * It stands in for a team's service, so that deploys, health checks, cutovers and failures can be tried
 * on a laptop and exercised by the tests.
 *
 * HTTP on 127.0.0.1:$PORT
 *   GET /        200 `sample-app <APP_VERSION>\n` (text/plain): shows which version served the request
 *   GET /health  200 `ok`, or 503 when SAMPLE_HEALTH=fail
 *   GET /greeting 200 $GREETING: shows the environment a stack was given (a wake must give it again)
 *   anything else 404
 *
 * Environment (nothing else is read):
 *   PORT                 port to listen on (required)
 *   APP_VERSION          version reported by `GET /`
 *   GREETING             text answered by `GET /greeting`
 *   SAMPLE_HEALTH=fail   answer /health with 503, to try a deployment that never becomes healthy
 *   SAMPLE_DELAY_MS=n    delay every response by n ms, to try probe timeouts and draining
 *   SAMPLE_CRASH_AFTER=n exit(1) once n requests (health probes included) have been answered
 *
 * SIGTERM closes the server and exits 0 once in-flight requests are answered.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

const port = Number(process.env.PORT);
const version = process.env.APP_VERSION ?? 'unknown';
const healthFails = process.env.SAMPLE_HEALTH === 'fail';
const delayMs = Number(process.env.SAMPLE_DELAY_MS ?? 0);
const crashAfter = Number(process.env.SAMPLE_CRASH_AFTER ?? 0);

if (!Number.isInteger(port) || port <= 0) {
  console.error('sample-app: PORT must be set to a port number');
  process.exit(2);
}

let answered = 0;

/** Status and body for a request; everything the app can say is here. */
function answerTo(req: IncomingMessage): [status: number, body: string] {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') return [405, 'method not allowed\n'];
  if (path === '/') return [200, `sample-app ${version}\n`];
  if (path === '/health') return healthFails ? [503, 'unhealthy'] : [200, 'ok'];
  if (path === '/greeting') return [200, `${process.env.GREETING ?? ''}\n`];
  return [404, 'not found\n'];
}

function answer(req: IncomingMessage, res: ServerResponse): void {
  const [status, body] = answerTo(req);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}

/** Counts answered requests and crashes the process at the configured count. */
function countAnswered(): void {
  answered += 1;
  if (crashAfter > 0 && answered >= crashAfter) process.exit(1);
}

const server = createServer((req, res) => {
  res.once('finish', countAnswered);
  if (delayMs > 0) setTimeout(() => answer(req, res), delayMs);
  else answer(req, res);
});

server.listen(port, '127.0.0.1');

process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections();
});
