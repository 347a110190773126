import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalConfig, parseTokens, readLocalConfig } from '../../infra/local/config.ts';
import { type Kiln, startKiln } from '../../infra/local/runtime.ts';
import { awaitDeployment, call, quickEnvironmentBody, TEST_TOKENS } from './kiln-process.ts';

/**
 * Embedded Kiln in this process, started as `npm start` starts it, on a fresh data folder named after
 * `prefix`, on a free port, accepting the test tokens (TEST_TOKENS: TOKEN for team `platform`, an approver
 * and a freeze-manager of it, OTHER_TEAM_TOKEN for `other`) unless `config` names its own, with `config`
 * over the defaults. Close it with `kiln.close()`, then remove `dataDir`.
 */
export async function startTestKiln(
  prefix: string,
  config: Partial<LocalConfig> = {},
): Promise<{ kiln: Kiln; dataDir: string }> {
  const dataDir = await mkdtemp(join(tmpdir(), prefix));
  const kiln = await startKiln({
    ...readLocalConfig({}),
    tokens: parseTokens(TEST_TOKENS),
    ...config,
    dataDir,
    apiPort: 0,
  });
  return { kiln, dataDir };
}

/**
 * startTestKiln, then `environment` created with the quick sample-app spec at `version` and deployed:
 * what tests of a second deployment start from. Answers its endpoint too.
 */
export async function startTestKilnWithEnvironment(
  prefix: string,
  environment: string,
  version: string,
  config: Partial<LocalConfig> = {},
): Promise<{ kiln: Kiln; dataDir: string; endpoint: string }> {
  const { kiln, dataDir } = await startTestKiln(prefix, config);
  const put = await call(kiln, 'PUT', `/environments/${environment}`, {
    body: quickEnvironmentBody(version),
  });
  assert.equal((await awaitDeployment(kiln, environment, put.body.deploymentId)).status, 'succeeded');
  const endpoint = (await call(kiln, 'GET', `/environments/${environment}`)).body.endpoint as string;
  return { kiln, dataDir, endpoint };
}
