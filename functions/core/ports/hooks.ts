import type { HookName } from '../types.ts';

/** What a hook function is invoked with (its event). */
export interface HookPayload {
  environment: string;
  deploymentId: string;
  /** The new stack under test. */
  stackId: string;
  hook: HookName;
  /**
   * A URL that reaches only that stack (see Traffic.testEndpoint); every request to it must carry the
   * header `x-kiln-test-stack: <stackId>` (TEST_STACK_HEADER).
   */
  testUrl: string;
}

/** A hook's verdict, as its function answers it, or as Kiln found it when the function did not answer so. */
export interface HookResult {
  status: 'Succeeded' | 'Failed';
  /** Why: the function's own reason, or its error, its timeout, its malformed answer. */
  reason?: string;
}

/**
 * Invokes a team's verification function through Lambda's Invoke API (on AWS, Lambda; embedded, the
 * runtime's Lambda endpoint running functions from a local folder, reached the same way through
 * AWS_ENDPOINT_URL_LAMBDA). Whatever the function does (answers Failed, throws, runs past
 * `timeoutSeconds`, answers something else, does not exist, may not be invoked) is a Failed result with
 * a reason saying which: it never throws for those. It throws only when Kiln cannot reach Lambda at all
 * (its own configuration, the network), which a workflow retries.
 */
export interface Hooks {
  invoke(fn: string, payload: HookPayload, timeoutSeconds: number): Promise<HookResult>;
}
