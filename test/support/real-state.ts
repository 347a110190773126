import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DOCUMENT_CLIENT_OPTIONS, DynamoDbStateStore } from '../../functions/adapters/aws/dynamodb-store.ts';
import { DaemonTraffic } from '../../functions/adapters/local/daemon-traffic.ts';
import { instanceProcessesOf } from '../../functions/adapters/local/process-compute.ts';
import { JsonStateFile } from '../../functions/adapters/local/state-file.ts';
import { invariantViolations, takeSnapshot, type WorldSnapshot } from '../../functions/core/invariants.ts';
import { RUNTIME_FILE, type RuntimeDescription } from '../../infra/local/runtime.ts';
import { eventually } from './kiln-process.ts';

const DAEMON_ENTRY = resolve(import.meta.dirname, '../../infra/local/traffic-daemon.ts');

/**
 * The real state of a running embedded Kiln, read from outside it the way an operator could: its
 * DynamoDB (the endpoint it publishes in runtime.json), the split its traffic daemon applies, and the
 * instance processes that run on this host (found by the data folder's owner marker in /proc).
 */
export async function realState(dataDir: string, environments: readonly string[]): Promise<WorldSnapshot> {
  const runtime = await new JsonStateFile<RuntimeDescription>(join(dataDir, RUNTIME_FILE)).read();
  if (!runtime?.databaseEndpoint) throw new Error(`no running embedded Kiln described in ${dataDir}`);
  const client = new DynamoDBClient({
    endpoint: runtime.databaseEndpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const store = new DynamoDbStateStore({
    client: DynamoDBDocumentClient.from(client, DOCUMENT_CLIENT_OPTIONS),
    tableName: runtime.tableName,
  });
  const traffic = await DaemonTraffic.connect({ dataDir, daemonEntry: DAEMON_ENTRY });
  try {
    if (!traffic.foundRunning) throw new Error('the traffic daemon was not running: this check started one');
    return await takeSnapshot({ store, traffic }, environments, async () => {
      const scan = await instanceProcessesOf(join(dataDir, 'compute.json'));
      if (!scan.verifiable) throw new Error(scan.reason);
      return scan.processes.flatMap(({ stackId, instanceId, pid, pgid }) =>
        // An instance is its process-group leader; anything it started shares its identity.
        stackId && instanceId && pid === pgid ? [{ stackId, instanceId }] : [],
      );
    });
  } finally {
    traffic.detach();
    client.destroy();
  }
}

/** DESIGN's rules over the real state; empty when they all hold. */
export async function realStateViolations(
  dataDir: string,
  environments: readonly string[],
): Promise<string[]> {
  return invariantViolations(await realState(dataDir, environments));
}

/**
 * Waits (up to 10 s) until DESIGN's invariants hold over the real state: stopping what no record wants
 * (a decommissioned stack's instances) may take a moment after a deployment ends. Throws the violations.
 */
export async function awaitInvariants(dataDir: string, environments: readonly string[]): Promise<void> {
  await eventually(
    'the invariants to hold over the real state',
    async () => {
      const violations = await realStateViolations(dataDir, environments);
      if (violations.length > 0) throw new Error(violations.join('\n'));
      return true;
    },
    10_000,
  );
}
