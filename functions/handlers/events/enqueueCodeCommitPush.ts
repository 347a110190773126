import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from '../../shared/logger.ts';
import { normalizeCodeCommitEvent } from '../../shared/push-events.ts';
import { enqueuePorts } from '../../shared/roots/enqueue.ts';

/**
 * Target of the EventBridge rule for CodeCommit `Repository State Change` events on branches: the event
 * is normalised as a GitHub push is and queued the same way, in its branch's group, so both providers
 * reach the consumer in one shape and in order. An event that is not a branch push is logged and
 * dropped (the rule's pattern already lets only branch events through). A failure to queue throws:
 * EventBridge retries the invocation.
 */
export const handler = middy(async (event: unknown, _context: Context) => {
  const push = normalizeCodeCommitEvent(event);
  if ('ignored' in push) {
    logger.info('CodeCommit event ignored', { reason: push.ignored });
    return;
  }
  await enqueuePorts().pushQueue.enqueue(push);
}).use(injectLambdaContext(logger, { resetKeys: true }));
