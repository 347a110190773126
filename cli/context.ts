import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { bearerAuth, type CredentialProvider, sigV4Auth } from './auth.ts';
import { type Authorizer, type KilnClient, kilnClient } from './client.ts';
import { type AuthMode, type CliConfig, readCliConfig } from './config.ts';
import { EXIT, exitCodeOf } from './exit-codes.ts';
import { type Output, type OutputFormat, output } from './output.ts';
import { watchDeployment } from './watch.ts';
import { type ViewStream, watchViewFor } from './watch-view.ts';

/** What the CLI reads and writes: the process's, or a test's. */
export interface CliIo {
  stdout: ViewStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
  /** The credentials SigV4 signs with; by default the standard chain (env, profile, SSO, IMDS…). */
  credentials?: CredentialProvider;
}

/** The options every command takes (see program.ts). */
export interface GlobalOptions {
  url?: string;
  auth?: AuthMode;
  output: OutputFormat;
}

/** What a command's action works with. */
export interface CommandContext {
  client: KilnClient;
  out: Output;
  stdin: NodeJS.ReadableStream;
  /**
   * Follows a deployment until it ends, its steps shown live (text) or only its end printed (JSON);
   * answers the exit code of its outcome.
   */
  watch(environment: string, deploymentId: string): Promise<number>;
}

export function commandContext(options: GlobalOptions, io: CliIo): CommandContext {
  const config = readCliConfig(io.env, options);
  const client = kilnClient(config.url, authorizerFor(config, io));
  const out = output(options.output, io.stdout);
  return {
    client,
    out,
    stdin: io.stdin,
    async watch(environment, deploymentId) {
      const text = out.format === 'text';
      const ended = await watchDeployment(
        client,
        environment,
        deploymentId,
        text ? watchViewFor(io.stdout) : undefined,
      );
      if (!text) out.result(ended, () => '');
      return exitCodeOf(ended.status);
    },
  };
}

function authorizerFor(config: CliConfig, io: CliIo): Authorizer {
  if (config.auth === 'token') return bearerAuth(config.token);
  return sigV4Auth(config.region, io.credentials ?? fromNodeProviderChain());
}

/** How a command that started a deployment ends: at once (0), or with the deployment's outcome. */
export async function followIf(
  watch: boolean | undefined,
  context: CommandContext,
  accepted: { environment: string; deploymentId: string | null; document: unknown; text: () => string },
): Promise<number> {
  if (watch && accepted.deploymentId) return context.watch(accepted.environment, accepted.deploymentId);
  context.out.result(accepted.document, accepted.text);
  return EXIT.ok;
}
