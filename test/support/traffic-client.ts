/**
 * A control plane in miniature, run as its own process so that a test can SIGKILL it: connects a
 * DaemonTraffic to a data folder, runs the steps it is given in order, and stays alive afterwards.
 *
 *   node test/support/traffic-client.ts '{"dataDir": "...", "steps": [["ensureEndpoint", "env"], ...]}'
 *
 * It prints one JSON line per event: `{"connected": status}`, then `{"started": method}` as each step's
 * RPC is sent and `{"done": method, "result": ...}` when it answers, then `{"idle": true}`.
 */
import { resolve } from 'node:path';
import { DaemonTraffic } from '../../functions/adapters/local/daemon-traffic.ts';

export const DAEMON_ENTRY = resolve(import.meta.dirname, '../../infra/local/traffic-daemon.ts');

type Step = [method: string, ...args: unknown[]];

function print(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

if (import.meta.main) {
  const { dataDir, steps } = JSON.parse(process.argv[2] ?? '{}') as { dataDir: string; steps: Step[] };
  const traffic = await DaemonTraffic.connect({ dataDir, daemonEntry: DAEMON_ENTRY });
  print({ connected: await traffic.status() });
  for (const [method, ...args] of steps) {
    const run = traffic[method as keyof DaemonTraffic] as (...args: unknown[]) => Promise<unknown>;
    const pending = run.apply(traffic, args);
    print({ started: method });
    print({ done: method, result: (await pending) ?? null });
  }
  print({ idle: true });
  // Stays until killed, as a control plane would.
  setInterval(() => undefined, 60_000);
}
