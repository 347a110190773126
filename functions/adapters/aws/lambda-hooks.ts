import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { HookPayload, HookResult, Hooks } from '../../core/ports/hooks.ts';

export interface LambdaHooksOptions {
  /** Lambda's client; its endpoint is the SDK's standard one (AWS_ENDPOINT_URL_LAMBDA embedded). */
  client: LambdaClient;
}

/** A reason is recorded with the deployment: room for a useful message, never a whole log. */
const MAX_REASON_LENGTH = 1000;

/**
 * Verification hooks as Lambda functions, invoked synchronously (`RequestResponse`) with the payload as
 * their event. Lambda answering anything but the expected verdict is a Failed result saying what it was:
 * a function error (its type and message), no answer within `timeoutSeconds` (the call is aborted), an
 * answer of another shape, or an error of Lambda's own (ResourceNotFoundException, AccessDeniedException,
 * ...: the function is the team's, and so is its name, its tags and its configuration). Only an error
 * Lambda never answered (no endpoint, no credentials, the network) is thrown: that one is Kiln's.
 */
export class LambdaHooks implements Hooks {
  readonly #client: LambdaClient;

  constructor(options: LambdaHooksOptions) {
    this.#client = options.client;
  }

  async invoke(fn: string, payload: HookPayload, timeoutSeconds: number): Promise<HookResult> {
    const deadline = AbortSignal.timeout(timeoutSeconds * 1000);
    // The abort stops the request; the race also ends a wait the SDK would not abort (resolving credentials).
    const timedOut = new Promise<never>((_, reject) => {
      deadline.addEventListener('abort', () => reject(deadline.reason), { once: true });
    });
    timedOut.catch(() => undefined);
    let output: { FunctionError?: string | undefined; Payload?: Uint8Array | undefined };
    try {
      const invocation = this.#client.send(
        new InvokeCommand({
          FunctionName: fn,
          InvocationType: 'RequestResponse',
          Payload: new TextEncoder().encode(JSON.stringify(payload)),
        }),
        { abortSignal: deadline },
      );
      output = await Promise.race([invocation, timedOut]);
    } catch (error) {
      if (deadline.aborted) return failed(`${fn} timed out after ${timeoutSeconds} s`);
      if (!answeredByLambda(error)) throw error;
      const { name, message } = error as Error;
      return failed(`${fn} could not be invoked: ${name}: ${message}`);
    }
    const text = output.Payload ? new TextDecoder().decode(output.Payload) : '';
    if (output.FunctionError) return failed(`${fn} failed: ${describeFunctionError(text)}`);
    return verdictOf(fn, text);
  }
}

/** An error Lambda answered with an HTTP status (as opposed to one raised before any answer came). */
function answeredByLambda(error: unknown): boolean {
  const metadata = (error as { $metadata?: { httpStatusCode?: number } }).$metadata;
  return metadata?.httpStatusCode !== undefined;
}

/** Lambda's function error payload, `{ errorType, errorMessage, trace }`, as `<type>: <message>`. */
function describeFunctionError(text: string): string {
  try {
    const { errorType, errorMessage } = JSON.parse(text) as { errorType?: unknown; errorMessage?: unknown };
    if (typeof errorMessage === 'string') {
      return typeof errorType === 'string' ? `${errorType}: ${errorMessage}` : errorMessage;
    }
  } catch {
    // Not Lambda's error shape: the text itself says what there is to say.
  }
  return text || 'no error message';
}

/** The function's verdict, or Failed naming what it answered instead (extra fields are allowed). */
function verdictOf(fn: string, text: string): HookResult {
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  const { status, reason } = (answer ?? {}) as { status?: unknown; reason?: unknown };
  const isVerdict =
    typeof answer === 'object' &&
    answer !== null &&
    (status === 'Succeeded' || status === 'Failed') &&
    (reason === undefined || typeof reason === 'string');
  if (!isVerdict) {
    return failed(
      `${fn} answered ${JSON.stringify(text.slice(0, 200))}, not { "status": "Succeeded" | "Failed", "reason"?: string }`,
    );
  }
  if (reason !== undefined) return { status, reason: clip(reason) };
  return status === 'Failed' ? failed(`${fn} answered Failed without a reason`) : { status };
}

function failed(reason: string): HookResult {
  return { status: 'Failed', reason: clip(reason) };
}

function clip(reason: string): string {
  return reason.length > MAX_REASON_LENGTH ? `${reason.slice(0, MAX_REASON_LENGTH - 1)}…` : reason;
}
