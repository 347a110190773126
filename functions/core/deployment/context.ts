import { NotFoundError } from '../errors.ts';
import type { Ports } from '../ports/index.ts';
import type { DeploymentChange } from '../ports/state-store.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import { generationOf, stackIdFor } from '../spec.ts';
import { assertStackTransition } from '../stack-lifecycle.ts';
import type { Deployment, DeploymentStatus, Environment, Stack, StackStatus } from '../types.ts';

/**
 * The preamble every deployment task shares. Tasks run at least once (Lambda and the runner retry, a
 * resumed execution runs its last state again): each one first reads where the deployment stands and
 * acts only while the deployment runs and holds the environment's lease. A task that finds it finished,
 * superseded or reclaimed does nothing and returns what the next state needs.
 */
export interface TaskContext {
  deployment: Deployment;
  environment: Environment;
  /** Running and holding the lease: the only time a task changes compute, traffic or records. */
  acting: boolean;
  /** When this run of the task began: the start of the step it records. */
  startedAt: string;
}

export type TaskPorts = Pick<Ports, 'store' | 'clock'>;

export async function loadTask(ports: TaskPorts, input: WorkflowInput): Promise<TaskContext> {
  const startedAt = ports.clock.now().toISOString();
  const [deployment, environment] = await Promise.all([
    ports.store.getDeployment(input.environment, input.deploymentId),
    ports.store.getEnvironment(input.environment),
  ]);
  if (!deployment) {
    throw new NotFoundError(`deployment ${input.deploymentId} of ${input.environment} does not exist`);
  }
  if (!environment) throw new NotFoundError(`environment ${input.environment} does not exist`);
  const acting = deployment.status === 'running' && environment.lease?.holder === deployment.id;
  return { deployment, environment, acting, startedAt };
}

/**
 * Records the task's step, ended now, in the same single write as the deployment's other `change`.
 * A step already recorded keeps its first record (a retried task changes nothing). With `ifStatus`, only
 * while the deployment has that status (VersionConflictError otherwise, see StateStore.updateDeployment).
 */
export async function recordStep(
  ports: TaskPorts,
  context: Pick<TaskContext, 'deployment' | 'startedAt'>,
  step: { name: string; detail?: string; startedAt?: string },
  change: Omit<DeploymentChange, 'steps'> = {},
  ifStatus?: DeploymentStatus,
): Promise<Deployment> {
  const { deployment } = context;
  return ports.store.updateDeployment(
    deployment.environment,
    deployment.id,
    {
      ...change,
      steps: [
        {
          name: step.name,
          startedAt: step.startedAt ?? context.startedAt,
          endedAt: ports.clock.now().toISOString(),
          ...(step.detail ? { detail: step.detail } : {}),
        },
      ],
    },
    ifStatus,
  );
}

export function hasStep(deployment: Deployment, name: string): boolean {
  return deployment.steps?.some((step) => step.name === name) ?? false;
}

/** Moves a stack along its lifecycle (refusing a forbidden move before anything happens); no write when unchanged. */
export async function transitionStack(
  ports: TaskPorts,
  stack: Stack,
  to: StackStatus,
  change: Partial<Pick<Stack, 'instances' | 'statusReason'>> = {},
): Promise<Stack> {
  assertStackTransition(stack.stackId, stack.status, to);
  const unchanged =
    stack.status === to &&
    Object.entries(change).every(
      ([field, value]) => JSON.stringify(stack[field as keyof Stack]) === JSON.stringify(value),
    );
  if (unchanged) return stack;
  return ports.store.updateStack(stack.environment, stack.generation, {
    status: to,
    ...change,
    updatedAt: ports.clock.now().toISOString(),
  });
}

/** The stack this deployment creates (a teardown creates none). */
export function newStackIdOf(deployment: Deployment): string {
  return deployment.toStackId ?? stackIdFor(deployment.environment, deployment.generation);
}

export async function findStack(
  ports: TaskPorts,
  environment: string,
  stackId: string,
): Promise<Stack | undefined> {
  const generation = generationOf(stackId);
  return generation === undefined ? undefined : ports.store.getStack(environment, generation);
}

export async function requireStack(ports: TaskPorts, environment: string, stackId: string): Promise<Stack> {
  const stack = await findStack(ports, environment, stackId);
  if (!stack) throw new NotFoundError(`stack ${stackId} does not exist`);
  return stack;
}
