import { LambdaClient } from '@aws-sdk/client-lambda';
import { LambdaHooks } from '../../adapters/aws/lambda-hooks.ts';
import type { Hooks } from '../../core/ports/hooks.ts';

/**
 * The teams' verification functions, invoked through Lambda. No configuration of its own: the function
 * is named by the spec, and Lambda is the SDK's standard one (AWS_ENDPOINT_URL_LAMBDA embedded, where the
 * runtime points it at its own Lambda endpoint).
 */
export function buildAwsHooks(client = new LambdaClient({})): Hooks {
  return new LambdaHooks({ client });
}
