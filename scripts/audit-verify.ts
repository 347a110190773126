/**
 * `npm run audit:verify -- <environment> [--data-dir <dir> | --table <name>]`: recomputes an environment's
 * audit chain straight from the table, as the API's GET /environments/{name}/audit/verify does, and says
 * whether it is intact (with its count) or names the first event that does not match. Exits 0 when
 * intact, 1 when not, 2 on a usage or access error.
 *
 * Which table: `--table <name>` reads that DynamoDB table in AWS (region and credentials from the SDK's
 * standard settings: AWS_REGION, AWS_PROFILE, the credential chain). Otherwise the running embedded Kiln
 * of `--data-dir` (default KILN_DATA_DIR, else `.kiln`), found by the runtime.json it publishes: its
 * DynamoDB endpoint, or, in hybrid mode, the AWS table it uses. A template's trail is `template:<name>`.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DOCUMENT_CLIENT_OPTIONS } from '../functions/adapters/aws/dynamodb-store.ts';
import { JsonStateFile } from '../functions/adapters/local/state-file.ts';
import { describeVerification, verifyAuditChain } from '../functions/core/audit.ts';
import { buildAwsStore } from '../functions/shared/aws/store.ts';
import { readLocalConfig } from '../infra/local/config.ts';
import { LOCAL_CREDENTIALS } from '../infra/local/database.ts';
import { RUNTIME_FILE, type RuntimeDescription } from '../infra/local/runtime.ts';

const USAGE = 'usage: npm run audit:verify -- <environment> [--data-dir <dir> | --table <name>]';

/** The table to read: named (AWS), or the one the embedded Kiln of `dataDir` publishes. */
async function tableOf(options: { table?: string; dataDir: string }) {
  if (options.table) return { tableName: options.table, client: new DynamoDBClient({}) };
  const runtime = await new JsonStateFile<RuntimeDescription>(join(options.dataDir, RUNTIME_FILE)).read();
  if (!runtime) {
    throw new Error(
      `no embedded Kiln is running on ${options.dataDir} (no ${RUNTIME_FILE}): start it, or pass --table`,
    );
  }
  const client = runtime.databaseEndpoint
    ? new DynamoDBClient({
        endpoint: runtime.databaseEndpoint,
        region: 'local',
        credentials: LOCAL_CREDENTIALS,
      })
    : new DynamoDBClient({}); // hybrid mode: the table is in AWS
  return { tableName: runtime.tableName, client };
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { 'data-dir': { type: 'string' }, table: { type: 'string' } },
  });
  const [environment] = positionals;
  if (!environment || positionals.length > 1) {
    console.error(USAGE);
    return 2;
  }
  const { tableName, client } = await tableOf({
    ...(values.table ? { table: values.table } : {}),
    dataDir: values['data-dir'] ?? readLocalConfig(process.env).dataDir,
  });
  try {
    const store = buildAwsStore({ tableName }, DynamoDBDocumentClient.from(client, DOCUMENT_CLIENT_OPTIONS));
    const verification = verifyAuditChain(environment, await store.readAuditTrail(environment));
    console.log(describeVerification(verification));
    return verification.intact ? 0 : 1;
  } finally {
    client.destroy();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  console.error(`audit:verify: ${(error as Error).message}`);
  process.exitCode = 2;
}
