import { DASHBOARD_PATH } from '../dashboard-assets.ts';
import { DEFAULT_GITHUB_WEBHOOK_SECRET, readLocalConfig } from './config.ts';
import { startKiln } from './runtime.ts';

/**
 * `npm start`: embedded Kiln in the foreground. SIGINT/SIGTERM stop it cleanly: the API closes,
 * workflows pause (they resume on the next start), instances and proxies stop, the database closes.
 */
async function start() {
  const config = readLocalConfig();
  return { config, kiln: await startKiln(config) };
}

// A configuration or startup problem is one clear line, not a stack trace.
const { config, kiln } = await start().catch((error: Error) => {
  console.error(`Kiln could not start: ${error.message}`);
  process.exit(1);
});
console.log(`Kiln API listening on ${kiln.apiUrl}`);
console.log(`Dashboard: ${kiln.apiUrl}${DASHBOARD_PATH} (sign in with a token of KILN_TOKENS)`);
console.log(
  `Provider: ${kiln.provider}; tokens for team(s): ${[...new Set([...config.tokens.values()].map((holder) => holder.team))].join(', ')}`,
);
console.log(
  `GitHub webhook: POST ${kiln.apiUrl}/hooks/github, signed with ${
    config.githubWebhookSecret === DEFAULT_GITHUB_WEBHOOK_SECRET
      ? 'the dev default secret (set KILN_GITHUB_WEBHOOK_SECRET before exposing this port)'
      : 'KILN_GITHUB_WEBHOOK_SECRET'
  }`,
);

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: stopping Kiln…`);
  await kiln.close();
  console.log('Kiln stopped.');
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
