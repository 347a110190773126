import type { HookResult, Hooks } from './ports/hooks.ts';
import type { Traffic } from './ports/traffic.ts';
import type { Deployment, HookName } from './types.ts';

/** What running a hook takes: the stack's test route and Lambda's Invoke. */
export interface HookPorts {
  traffic: Pick<Traffic, 'testEndpoint'>;
  hooks: Hooks;
}

/**
 * Runs the deployment's `which` hook against the stack: opens (or finds) the stack's test route and
 * invokes the team's function with it, answering its verdict (a failure, an error or a timeout of the
 * function is a Failed verdict with the reason; see the Hooks port). Undefined when the deployment's spec
 * has no such hook. Records nothing: the workflow task calling it records the step and decides.
 */
export async function runHook(
  ports: HookPorts,
  deployment: Pick<Deployment, 'id' | 'environment' | 'spec'>,
  stackId: string,
  which: HookName,
): Promise<HookResult | undefined> {
  const hook = deployment.spec?.hooks?.[which];
  if (!hook) return undefined;
  const testUrl = await ports.traffic.testEndpoint(deployment.environment, stackId);
  return ports.hooks.invoke(
    hook.function,
    { environment: deployment.environment, deploymentId: deployment.id, stackId, hook: which, testUrl },
    hook.timeoutSeconds,
  );
}
