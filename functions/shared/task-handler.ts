import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { Ports } from '../core/ports/index.ts';
import { logger } from './logger.ts';
import { ports } from './ports.ts';

/**
 * Wraps a core workflow task as a Lambda handler for a Step Functions Task state. Errors propagate
 * with their class name (LeaseHeldError, StackNotHealthyError, ...) so the ASL's Retry/Catch match them.
 */
export function taskHandler<I extends { environment: string; deploymentId: string }, O>(
  task: (ports: Ports, input: I) => Promise<O>,
) {
  return middy(async (input: I, _context: Context): Promise<O> => {
    logger.appendKeys({ environment: input.environment, deploymentId: input.deploymentId });
    try {
      return await task(ports(), input);
    } catch (error) {
      const { name, message } = error as Error;
      logger.warn('task failed', { error: { name, message } });
      throw error;
    }
  }).use(injectLambdaContext(logger, { resetKeys: true }));
}
