import { isTerminal } from './deployment-lifecycle.ts';
import type { StateStore } from './ports/state-store.ts';
import { environmentOfStack, generationOf, stackIdFor } from './spec.ts';
import type { StackStatus } from './types.ts';

/** Statuses of a stack whose instances Kiln still wants running. */
export const RUNNING_STACK_STATUSES: readonly StackStatus[] = [
  'provisioning',
  'healthy',
  'live',
  'standby',
  'draining',
];

/**
 * Whether Kiln still wants a stack's instances: its record says it runs, or, before it is recorded
 * (instances are launched first, see ProvisionStack), an unfinished deployment is creating it. Anything
 * else carrying Kiln's tags is an orphan (rule 4), to be stopped.
 */
export async function stackIsWanted(
  store: Pick<StateStore, 'getStack' | 'listDeployments'>,
  stackId: string,
): Promise<boolean> {
  return (await whyStackIsUnwanted(store, stackId)) === undefined;
}

/** Why Kiln no longer wants the stack (see stackIsWanted), in words; undefined while it does. */
export async function whyStackIsUnwanted(
  store: Pick<StateStore, 'getStack' | 'listDeployments'>,
  stackId: string,
): Promise<string | undefined> {
  const environment = environmentOfStack(stackId);
  const generation = generationOf(stackId);
  if (environment === undefined || generation === undefined) return `${stackId} is not a stack id Kiln makes`;
  const stack = await store.getStack(environment, generation);
  if (stack)
    return RUNNING_STACK_STATUSES.includes(stack.status) ? undefined : `stack ${stackId} is ${stack.status}`;
  const recent = await store.listDeployments(environment, UNFINISHED_LOOKBACK);
  const creating = recent.some(
    (deployment) =>
      !isTerminal(deployment.status) &&
      deployment.action === 'deploy' &&
      (deployment.toStackId ?? stackIdFor(environment, deployment.generation)) === stackId,
  );
  return creating ? undefined : `no record of stack ${stackId}, and no unfinished deployment creates it`;
}

/** Unfinished deployments are the newest ones (a queue of waiting requests is short): how far back to look. */
const UNFINISHED_LOOKBACK = 20;
