/**
 * An example verification hook (README, "Verification hooks"): GETs `/health` and `/` of the stack under
 * test through its test URL, each request naming the stack in `x-kiln-test-stack` (on AWS the header is
 * what selects the test route). Succeeded when both answer 200. Self-contained, as a team's Lambda is.
 */
interface HookEvent {
  environment: string;
  deploymentId: string;
  stackId: string;
  hook: 'beforeTraffic' | 'afterTraffic';
  testUrl: string;
}

export async function handler(
  event: HookEvent,
): Promise<{ status: 'Succeeded' | 'Failed'; reason?: string }> {
  const problems: string[] = [];
  for (const path of ['/health', '/']) {
    try {
      const response = await fetch(`${event.testUrl}${path}`, {
        headers: { 'x-kiln-test-stack': event.stackId },
        signal: AbortSignal.timeout(5000),
      });
      await response.body?.cancel();
      if (response.status !== 200) problems.push(`GET ${path} answered ${response.status}`);
    } catch (error) {
      problems.push(`GET ${path} failed: ${(error as Error).message}`);
    }
  }
  return problems.length === 0
    ? { status: 'Succeeded', reason: `${event.stackId} answered 200 on /health and /` }
    : { status: 'Failed', reason: `${event.stackId}: ${problems.join('; ')}` };
}
