import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseTokens, readLocalConfig } from '../../infra/local/config.ts';
import { type Kiln, startKiln } from '../../infra/local/runtime.ts';
import { OTHER_TEAM_TOKEN, TOKEN } from './kiln-process.ts';

/**
 * Embedded Kiln in this process, started as `npm start` starts it, on a fresh data folder named after
 * `prefix`, on a free port, accepting the test tokens (TOKEN for team `platform`, OTHER_TEAM_TOKEN for
 * `other`). Close it with `kiln.close()`, then remove `dataDir`.
 */
export async function startTestKiln(prefix: string): Promise<{ kiln: Kiln; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const kiln = await startKiln({
    ...readLocalConfig({}),
    dataDir,
    apiPort: 0,
    tokens: parseTokens(`${TOKEN}=platform,${OTHER_TEAM_TOKEN}=other`),
  });
  return { kiln, dataDir };
}
