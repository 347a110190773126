import type { Command } from 'commander';
import type { deploymentView, environmentView } from '../../functions/shared/views.ts';
import { type CommandContext, followIf } from '../context.ts';
import { UsageError } from '../errors.ts';
import { table } from '../output.ts';
import { deploymentPath, environmentPath } from '../paths.ts';
import { type Act, count } from '../program.ts';
import { formatDuration } from '../watch-view.ts';

type DeploymentView = ReturnType<typeof deploymentView>;
type EnvironmentView = ReturnType<typeof environmentView>;

/**
 * Starting deployments (`deploy`, `rollback`, `sleep`, `wake`), following them (`watch`, `--watch`),
 * listing them (`history`) and answering them (`cancel`, `approve`, `reject`).
 */
export function deploymentCommands(program: Command, act: Act): void {
  program
    .command('deploy')
    .description('deploy a version (or redeploy the desired spec) to an environment')
    .argument('<env>', 'environment name')
    .option('--version <version>', 'the version to deploy (default: redeploy the desired spec)')
    .option('--reason <reason>', 'why, for the record')
    .option('--break-glass <reason>', 'pass the freezes covering the environment now: why (scored high risk)')
    .option('-w, --watch', 'follow the deployment until it ends; the exit code says how')
    .action(
      act<{ version?: string; reason?: string; breakGlass?: string; watch?: boolean }>(
        async (context, [name], options) => {
          const { version, reason, breakGlass, watch } = options;
          const accepted = await context.client.send<{ deploymentId: string }>(
            'POST',
            environmentPath(name, 'deployments'),
            {
              body: {
                ...(version ? { version } : {}),
                ...(reason ? { reason } : {}),
                ...(breakGlass ? { breakGlass: { reason: breakGlass } } : {}),
              },
            },
          );
          return followIf(watch, context, {
            environment: name,
            deploymentId: accepted.deploymentId,
            document: accepted,
            text: () => `deployment ${accepted.deploymentId} of ${name} requested (kiln watch ${name})`,
          });
        },
      ),
    );

  for (const [action, description] of [
    ['rollback', 'back to the previous spec: at once to its warm stack inside the rollback window'],
    ['sleep', 'put an environment to sleep now: its stacks are decommissioned, its endpoint parked'],
    ['wake', 'wake a sleeping environment'],
  ] as const) {
    program
      .command(action)
      .description(description)
      .argument('<env>', 'environment name')
      .option('--reason <reason>', 'why, for the record')
      .option('-w, --watch', 'follow the deployment it starts until it ends; the exit code says how')
      .action(
        act<{ reason?: string; watch?: boolean }>(async (context, [name], { reason, watch }) => {
          const accepted = await context.client.send<EnvironmentView & { deploymentId: string | null }>(
            'POST',
            environmentPath(name, action),
            { body: reason ? { reason } : {} },
          );
          return followIf(watch, context, {
            environment: name,
            deploymentId: accepted.deploymentId,
            document: accepted,
            text: () =>
              accepted.deploymentId
                ? `${action} of ${name} requested: deployment ${accepted.deploymentId} (kiln watch ${name})`
                : `${name} is ${accepted.status}: nothing to do`,
          });
        }),
      );
  }

  program
    .command('watch')
    .description("follow a deployment's steps until it ends; the exit code says how")
    .argument('<env>', 'environment name')
    .argument('[deployment-id]', 'default: the environment’s latest deployment')
    .action(
      act(async (context, [name, id]) =>
        context.watch(name, id ?? (await latestDeploymentOf(context, name))),
      ),
    );

  program
    .command('history')
    .description("an environment's deployments, newest first")
    .argument('<env>', 'environment name')
    .option('--limit <n>', 'how many (1-100)', count, '20')
    .action(
      act<{ limit: string }>(async ({ client, out }, [name], { limit }) => {
        const answer = await client.send<{ deployments: DeploymentView[] }>(
          'GET',
          environmentPath(name, 'deployments'),
          { query: { limit } },
        );
        out.result(answer, () =>
          table(
            ['ID', 'STATUS', 'ACTION', 'VERSION', 'TRIGGER', 'ACTOR', 'REQUESTED', 'TOOK'],
            answer.deployments.map((d) => [
              d.id,
              d.status,
              d.action,
              d.version,
              d.trigger,
              d.actor,
              d.requestedAt,
              d.endedAt
                ? formatDuration(Date.parse(d.endedAt) - Date.parse(d.startedAt ?? d.requestedAt))
                : null,
            ]),
          ),
        );
      }),
    );

  program
    .command('cancel')
    .description('ask a deployment to stop: before its cutover it rolls back and ends cancelled')
    .argument('<env>', 'environment name')
    .argument('<deployment-id>', 'the deployment')
    .action(
      act(async ({ client, out }, [name, id]) => {
        const deployment = await client.send<DeploymentView>('POST', `${deploymentPath(name, id)}/cancel`);
        out.result(
          deployment,
          () =>
            `cancel of ${id} requested (status ${deployment.status}): it stops at its next phase boundary`,
        );
      }),
    );

  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(decision)
      .description(`${decision} a deployment that waits for approval (approvers of its team)`)
      .argument('<env>', 'environment name')
      .argument('<deployment-id>', 'the deployment')
      .option('--comment <comment>', decision === 'reject' ? 'why (a reject needs one)' : 'what you checked')
      .action(
        act<{ comment?: string }>(async ({ client, out }, [name, id], { comment }) => {
          const deployment = await client.send<DeploymentView>(
            'POST',
            `${deploymentPath(name, id)}/${decision}`,
            {
              body: comment ? { comment } : {},
            },
          );
          out.result(
            deployment,
            // The answer is recorded at once; the waiting workflow then goes on or ends the deployment.
            () =>
              `${id}: ${decision === 'approve' ? 'approved' : 'rejected'} (now ${deployment.status}; kiln watch ${name} ${id} follows it)`,
          );
        }),
      );
  }
}

/** The deployment `kiln watch <env>` follows when not told which. */
async function latestDeploymentOf(context: CommandContext, name: string): Promise<string> {
  const environment = await context.client.send<EnvironmentView>('GET', environmentPath(name));
  if (!environment.latestDeploymentId) throw new UsageError(`${name} has no deployment to watch`);
  return environment.latestDeploymentId;
}
