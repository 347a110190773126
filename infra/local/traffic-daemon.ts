/**
 * The embedded traffic data plane as its own process, so that it outlives the control plane as an ALB
 * outlives a Lambda: `node infra/local/traffic-daemon.ts --data-dir <folder> [--host 127.0.0.1]`.
 *
 * `DaemonTraffic.connect` starts it detached (own session and process group, so Ctrl-C in the terminal of
 * `npm start` does not reach it) and it keeps serving whatever happens to the control plane; it stops on
 * the `stop` RPC (`DaemonTraffic.stop()`), SIGTERM or SIGINT, closing every endpoint gracefully. Exit
 * codes: 0 stopped, 1 could not start (the reason is logged), 2 bad arguments, 75 another daemon serves
 * the data folder.
 */
import { parseArgs } from 'node:util';
import { LOOPBACK } from '../../functions/adapters/local/free-port.ts';
import { ALREADY_SERVED_EXIT_CODE } from '../../functions/adapters/local/traffic-daemon-protocol.ts';
import {
  serveTrafficDaemon,
  type TrafficDaemon,
  TrafficDaemonRunningError,
} from '../../functions/adapters/local/traffic-daemon-server.ts';

// Everything the daemon creates (socket, state file, lock) is readable by its user only, from the start.
process.umask(0o077);

function log(line: string): void {
  console.log(`${new Date().toISOString()} traffic-daemon[${process.pid}] ${line}`);
}

let options: { dataDir: string; host: string };
try {
  const { values } = parseArgs({
    options: { 'data-dir': { type: 'string' }, host: { type: 'string', default: LOOPBACK } },
    strict: true,
  });
  if (!values['data-dir']) throw new Error('--data-dir is required');
  options = { dataDir: values['data-dir'], host: values.host };
} catch (error) {
  console.error(`usage: traffic-daemon.ts --data-dir <folder> [--host <ip>]: ${(error as Error).message}`);
  process.exit(2);
}

let daemon: TrafficDaemon;
try {
  daemon = await serveTrafficDaemon({ ...options, log });
} catch (error) {
  log((error as Error).message);
  process.exit(error instanceof TrafficDaemonRunningError ? ALREADY_SERVED_EXIT_CODE : 1);
}

process.on('SIGTERM', () => void daemon.stop());
process.on('SIGINT', () => void daemon.stop());
// Detached, it has no terminal to lose; a hang-up must not stop the data plane.
process.on('SIGHUP', () => undefined);

await daemon.stopped;
process.exit(0);
