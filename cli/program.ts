import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import packageJson from '../package.json' with { type: 'json' };
import { deploymentCommands } from './commands/deployments.ts';
import { environmentCommands } from './commands/environments.ts';
import { freezeCommands } from './commands/freezes.ts';
import { logCommands } from './commands/logs.ts';
import { AUTH_MODES } from './config.ts';
import { type CliIo, type CommandContext, commandContext, type GlobalOptions } from './context.ts';
import { ApiProblemError, KilnUnreachableError, UsageError } from './errors.ts';
import { EXIT } from './exit-codes.ts';
import { OUTPUT_FORMATS, type OutputFormat } from './output.ts';

/**
 * A command's action: gets the context, its arguments and its own options; answers its exit code
 * (nothing: 0).
 */
export type Act = <O = Record<string, never>>(
  action: (context: CommandContext, args: string[], options: O) => Promise<number> | Promise<void>,
) => (...params: unknown[]) => Promise<void>;

/** A whole number ≥ 1 for options such as `--limit`; anything else is a usage error. */
export function count(value: string): string {
  if (!/^[1-9]\d*$/.test(value)) throw new InvalidArgumentError('expected a whole number of at least 1');
  return value;
}

/** Runs `kiln <argv>` and answers its exit code (README "The kiln CLI": exit codes). Never throws. */
export async function runKiln(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode: number = EXIT.ok;
  // Known once a command runs: its errors are then reported in its format too.
  let format = 'text' as OutputFormat;
  const act: Act =
    (action) =>
    async (...params) => {
      const command = params.at(-1) as Command;
      const options = globalOptionsOf(command);
      format = options.output;
      const context = commandContext(options, io);
      exitCode =
        (await action(context, command.processedArgs as string[], command.opts() as never)) ?? EXIT.ok;
    };
  const program = kilnProgram(io, act);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    return report(error, io, format === 'json');
  }
}

function kilnProgram(io: CliIo, act: Act): Command {
  const program = new Command('kiln')
    .description('Kiln from the command line: environments, deployments, approvals')
    .version(packageJson.version)
    // Options belong to the command they follow: `kiln deploy shop --version 2.0.0` is deploy's version.
    .enablePositionalOptions()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .showHelpAfterError('(kiln --help shows the commands)')
    .exitOverride();
  environmentCommands(program, act);
  deploymentCommands(program, act);
  freezeCommands(program, act);
  logCommands(program, act);
  for (const command of [program, ...allCommands(program)]) {
    // Every command reports its usage errors the same way (a subcommand inherits neither setting).
    command.exitOverride().showHelpAfterError();
    for (const option of globalOptions()) command.addOption(option);
  }
  return program;
}

/** Options every command takes, before or after its name: `kiln -o json env ls`, `kiln env ls -o json`. */
function globalOptions(): Option[] {
  return [
    new Option('--url <url>', 'the Kiln API (default: KILN_URL, else the embedded Kiln)'),
    new Option(
      '--auth <mode>',
      'token: KILN_TOKEN; sigv4: AWS credentials (default: KILN_AUTH, else by URL)',
    ).choices(AUTH_MODES),
    new Option('-o, --output <format>', 'text for people (default), json for scripts').choices(
      OUTPUT_FORMATS,
    ),
  ];
}

/** The global options as given nearest the command: after its name, else before it. */
function globalOptionsOf(command: Command): GlobalOptions {
  const given = [command, ...ancestorsOf(command)].map((c) => c.opts<Partial<GlobalOptions>>());
  const nearest = <K extends keyof GlobalOptions>(key: K) => given.find((options) => options[key])?.[key];
  const url = nearest('url');
  const auth = nearest('auth');
  return { ...(url ? { url } : {}), ...(auth ? { auth } : {}), output: nearest('output') ?? 'text' };
}

function ancestorsOf(command: Command): Command[] {
  return command.parent ? [command.parent, ...ancestorsOf(command.parent)] : [];
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((sub) => [sub, ...allCommands(sub)]);
}

/**
 * An error as a person reads it: one line (the problem's title and detail, each invalid field under
 * it), never a stack trace; with `--output json` the problem also goes to stdout as its one document.
 */
function report(error: unknown, io: CliIo, json: boolean): number {
  // Commander has printed its message (or the help, or the version) already.
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (error instanceof UsageError) {
    io.stderr.write(`kiln: ${error.message}\n`);
    return EXIT.usage;
  }
  const problem =
    error instanceof ApiProblemError
      ? error.problem
      : {
          title: error instanceof KilnUnreachableError ? 'Kiln unreachable' : 'Error',
          detail: (error as Error).message,
        };
  io.stderr.write(`kiln: ${problem.title}${problem.detail ? `: ${problem.detail}` : ''}\n`);
  for (const issue of error instanceof ApiProblemError ? (error.problem.errors ?? []) : []) {
    io.stderr.write(`  ${issue.path}: ${issue.message}\n`);
  }
  if (json) io.stdout.write(`${JSON.stringify(problem, null, 2)}\n`);
  return EXIT.apiError;
}
