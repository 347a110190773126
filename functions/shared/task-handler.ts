import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { logger } from './logger.ts';

/**
 * Wraps a core workflow task as a Lambda handler for a Step Functions Task state, with the composition
 * root giving the ports that task needs (and so the clients its bundle carries). Errors propagate
 * with their class name (LeaseHeldError, StackNotHealthyError, ...) so the ASL's Retry/Catch match them.
 */
export function taskHandler<P, I extends { environment: string; deploymentId: string }, O>(
  task: (ports: P, input: I) => Promise<O>,
  portsOf: () => P,
) {
  return middy(async (input: I, _context: Context): Promise<O> => {
    logger.appendKeys({ environment: input.environment, deploymentId: input.deploymentId });
    try {
      return await task(portsOf(), input);
    } catch (error) {
      const { name, message } = error as Error;
      logger.warn('task failed', { error: { name, message } });
      throw error;
    }
  }).use(injectLambdaContext(logger, { resetKeys: true }));
}
