import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { ALBEvent, ALBResult, Context } from 'aws-lambda';
import { NotFoundError } from '../../core/errors.ts';
import { requestWake } from '../../core/requests.ts';
import { environmentName } from '../../shared/api-schemas.ts';
import { logger } from '../../shared/logger.ts';
import { requestPorts } from '../../shared/roots/request.ts';

/** How long a client is asked to wait before trying again: about the time a small stack takes to start. */
export const WAKING_RETRY_AFTER_SECONDS = 10;

/**
 * The waker: the ALB target of a sleeping environment's listener rule (embedded, a parked endpoint calls
 * it the same way). The environment is the first label of the host the rule matched,
 * `<environment>.<domain>`. It starts the wake (concurrent requests make one wake) and answers 503 with
 * Retry-After and a small "waking up" page; once the new stack takes traffic, requests reach it instead.
 */
export const handler = middy(async (event: ALBEvent, _context: Context): Promise<ALBResult> => {
  const host = (event.headers?.host ?? '').toLowerCase();
  const parsed = environmentName.safeParse(host.split('.')[0]);
  if (!parsed.success) return page(404, 'Not found', 'No Kiln environment is served at this address.');
  const name = parsed.data;
  try {
    const accepted = await requestWake(
      requestPorts(),
      { trigger: 'wake', principal: 'kiln' },
      name,
      'a request reached its endpoint',
    );
    logger.info('waking on request', {
      environment: name,
      deploymentId: accepted.deploymentId,
      path: event.path,
    });
  } catch (error) {
    if (error instanceof NotFoundError) return page(404, 'Not found', `No environment ${name}.`);
    throw error;
  }
  return page(
    503,
    'Waking up',
    `${name} was asleep and is waking up. This page will be the application in a few seconds: try again.`,
  );
}).use(injectLambdaContext(logger, { resetKeys: true }));

function page(statusCode: number, title: string, text: string): ALBResult {
  return {
    statusCode,
    statusDescription: `${statusCode} ${title}`,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      ...(statusCode === 503 ? { 'retry-after': String(WAKING_RETRY_AFTER_SECONDS) } : {}),
    },
    isBase64Encoded: false,
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="${WAKING_RETRY_AFTER_SECONDS}"><title>${title}</title></head><body><h1>${title}</h1><p>${escapeHtml(text)}</p></body></html>`,
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
