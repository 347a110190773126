import { readLocalConfig } from './config.ts';
import { startKiln } from './runtime.ts';

/**
 * `npm start`: embedded Kiln in the foreground. SIGINT/SIGTERM stop it cleanly: the API closes,
 * workflows pause (they resume on the next start), instances and proxies stop, the database closes.
 */
const config = readLocalConfig();
const kiln = await startKiln(config);
console.log(`Kiln API listening on ${kiln.apiUrl}`);
console.log(
  `Provider: ${kiln.provider}; tokens for team(s): ${[...new Set(config.tokens.values())].join(', ')}`,
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
