import type { Command } from 'commander';
import type { environmentView, stackView } from '../../functions/shared/views.ts';
import { followIf } from '../context.ts';
import { readResourceFile } from '../environment-file.ts';
import { fields, readable, table } from '../output.ts';
import { environmentPath } from '../paths.ts';
import type { Act } from '../program.ts';

type EnvironmentView = ReturnType<typeof environmentView>;
type StackView = ReturnType<typeof stackView>;

/** `kiln env ls|get|apply|delete` and `kiln status`: environments and what runs in them. */
export function environmentCommands(program: Command, act: Act): void {
  const env = program.command('env').description('environments: list, show, apply a file, delete');

  env
    .command('ls')
    .description("your team's environments")
    .action(
      act(async ({ client, out }) => {
        const answer = await client.send<{ environments: EnvironmentView[] }>('GET', '/environments');
        out.result(answer, () =>
          table(
            ['NAME', 'TIER', 'STATUS', 'LIVE', 'DESIRED', 'ENDPOINT'],
            answer.environments.map((e) => [
              e.name,
              e.tier,
              e.status,
              e.liveStack?.version,
              e.spec.version,
              e.endpoint,
            ]),
          ),
        );
      }),
    );

  env
    .command('get')
    .description('an environment: desired spec, status, live stack, endpoint, policies')
    .argument('<name>', 'environment name')
    .action(
      act(async ({ client, out }, [name]) => {
        const environment = await client.send<EnvironmentView>('GET', environmentPath(name));
        out.result(environment, () => readable(environment));
      }),
    );

  env
    .command('apply')
    .description("create or replace an environment from a file; a deployment starts when its spec isn't live")
    .requiredOption('-f, --file <file>', 'YAML or JSON: name, team, tier, spec, … (- for stdin)')
    .option('-w, --watch', 'follow the deployment it starts until it ends')
    .action(
      act<{ file: string; watch?: boolean }>(async (context, _args, options) => {
        const { name, body } = await readResourceFile(options.file, context.stdin);
        const applied = await context.client.send<EnvironmentView & { deploymentId: string | null }>(
          'PUT',
          environmentPath(name),
          { body },
        );
        return followIf(options.watch, context, {
          environment: name,
          deploymentId: applied.deploymentId,
          document: applied,
          text: () =>
            applied.deploymentId
              ? `${name} applied (version ${applied.version}): deployment ${applied.deploymentId} started`
              : `${name} applied (version ${applied.version}): its spec is live already, nothing to deploy`,
        });
      }),
    );

  env
    .command('delete')
    .description('drain and decommission every stack of an environment, keeping its history')
    .argument('<name>', 'environment name')
    .option('-w, --watch', 'follow the teardown until it ends')
    .action(
      act<{ watch?: boolean }>(async (context, [name], options) => {
        const accepted = await context.client.send<{ deploymentId: string | null; status: string }>(
          'DELETE',
          environmentPath(name),
        );
        return followIf(options.watch, context, {
          environment: name,
          deploymentId: accepted.deploymentId,
          document: accepted,
          text: () =>
            accepted.deploymentId
              ? `${name}: teardown ${accepted.deploymentId} started`
              : `${name} is ${accepted.status}: nothing to tear down`,
        });
      }),
    );

  program
    .command('status')
    .description('what an environment runs now: live version, endpoint, deployment in progress, stacks')
    .argument('<env>', 'environment name')
    .action(
      act(async ({ client, out }, [name]) => {
        const [environment, { stacks }] = await Promise.all([
          client.send<EnvironmentView>('GET', environmentPath(name)),
          client.send<{ stacks: StackView[] }>('GET', environmentPath(name, 'stacks')),
        ]);
        out.result({ environment, stacks }, () => statusText(environment, stacks));
      }),
    );
}

/** `kiln status` for a person: the environment's summary, then the stacks that still run. */
function statusText(environment: EnvironmentView, stacks: StackView[]): string {
  const live = environment.liveStack;
  const running = stacks.filter((stack) => !['decommissioned', 'failed'].includes(stack.status));
  return [
    `${environment.name}  ${environment.team}/${environment.tier}  ${environment.status}`,
    fields([
      ['live', live ? `${live.version} (${live.stackId})` : null],
      ['desired', `${environment.spec.version} (generation ${environment.generation})`],
      ['endpoint', environment.endpoint],
      ['deploying', environment.deploymentInProgress],
      ['latest deployment', environment.latestDeploymentId],
    ]),
    '',
    table(
      ['STACK', 'STATUS', 'WEIGHT', 'VERSION', 'INSTANCES'],
      running.map((stack) => [
        stack.stackId,
        stack.status,
        `${stack.weight}%`,
        stack.version,
        `${stack.instances.filter((i) => i.state === 'running').length}/${stack.instances.length} running`,
      ]),
    ),
  ].join('\n');
}
