import { createHash } from 'node:crypto';
import { lstat, mkdir, realpath } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Traffic } from '../../core/ports/traffic.ts';

/**
 * What the traffic daemon and its clients agree on: where its files are, how it is called, what it answers.
 *
 * The RPC is HTTP on a Unix domain socket: `POST /<method>` with a JSON array of arguments. The answer is
 * 200 with the JSON result, 204 when the method returns nothing, or an error status with
 * `{ name, message }` (a `RemoteCallError`), which the client rethrows with the same name and message.
 */

/** Bumped whenever a method or an answer changes meaning; a client replaces a daemon speaking another. */
export const TRAFFIC_DAEMON_PROTOCOL = 6;

/** The daemon's exit code when another daemon already serves its data folder. */
export const ALREADY_SERVED_EXIT_CODE = 75;

/** The name of the error a stopping daemon answers every call with (but `status`). */
export const STOPPING_ERROR_NAME = 'TrafficDaemonStoppingError';

/** The Traffic port's methods, the only ones the daemon runs on its ProxyTraffic. */
export const TRAFFIC_METHODS = [
  'ensureEndpoint',
  'registerStack',
  'setWeights',
  'getWeights',
  'probeHealth',
  'startDrain',
  'finishDrain',
  'removeEndpoint',
  'listRegistrations',
  'parkEndpoint',
  'lastRequestAt',
  'stackMetrics',
  'testEndpoint',
] as const satisfies readonly (keyof Traffic)[];

export type TrafficMethod = (typeof TRAFFIC_METHODS)[number];

/**
 * The daemon's own methods: who it is, stopping it (every endpoint closes, then it exits), and who wakes
 * a parked endpoint's environment (`setWakeHold`, a WakeTarget or null).
 */
export type DaemonMethod = 'status' | 'stop' | 'setWakeHold';

/** Where a parked endpoint sends its wake call (the waker function's invoke URL), and how long it holds requests. */
export interface WakeTarget {
  url: string;
  holdSeconds: number;
}

/** What `status` answers. */
export interface TrafficDaemonStatus {
  protocol: number;
  pid: number;
  /** The data folder it serves (its real path). */
  dataDir: string;
  /** The interface its endpoints listen on. */
  host: string;
  startedAt: string;
}

/** The body of an error answer. */
export interface RemoteCallError {
  name: string;
  message: string;
}

/** Files of one data folder's traffic layer. */
export interface TrafficDaemonFiles {
  /** The real path of the data folder (symlinks resolved), so that every way of naming it finds one daemon. */
  dataDir: string;
  /** Endpoints, registrations and weights; what a (re)started daemon restores. */
  stateFile: string;
  /** Held by the serving daemon for as long as it lives: two daemons never serve one data folder. */
  lockFile: string;
  /** The RPC socket, mode 0600: `<dataDir>/traffic.sock`, or a short path when that one is too long. */
  socketPath: string;
  /** The daemon's stdout and stderr. */
  logFile: string;
}

/**
 * Longest socket path used as is: `sun_path` holds 104 bytes on macOS and the BSDs (108 on Linux),
 * including the terminating NUL.
 */
export const MAX_SOCKET_PATH_BYTES = 103;

/**
 * Creates the data folder if needed (private to the user) and names its traffic files. A socket path in
 * it that would be too long is replaced by one in a private folder under the OS temp folder, named
 * after a hash of the data folder's real path.
 */
export async function trafficDaemonFiles(dataDir: string): Promise<TrafficDaemonFiles> {
  await mkdir(resolve(dataDir), { recursive: true, mode: 0o700 });
  const dir = await realpath(resolve(dataDir));
  return {
    dataDir: dir,
    stateFile: join(dir, 'traffic.json'),
    lockFile: join(dir, 'traffic-daemon.lock'),
    socketPath: await socketPathFor(dir),
    logFile: join(dir, 'logs', 'traffic-daemon.log'),
  };
}

async function socketPathFor(dataDir: string): Promise<string> {
  const inDataDir = join(dataDir, 'traffic.sock');
  if (Buffer.byteLength(inDataDir) <= MAX_SOCKET_PATH_BYTES) return inDataDir;
  // /tmp is shared: only a folder that is ours and closed to others keeps another user from planting a
  // socket there that our client would talk to.
  const privateDir = join(tmpdir(), `kiln-${process.getuid?.() ?? 'user'}`);
  await ensurePrivateDir(privateDir);
  const hash = createHash('sha256').update(dataDir).digest('hex').slice(0, 32);
  const short = join(privateDir, `traffic-${hash}.sock`);
  if (Buffer.byteLength(short) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`no socket path short enough for the traffic daemon: ${short} is too long (set TMPDIR)`);
  }
  return short;
}

async function ensurePrivateDir(path: string): Promise<void> {
  await mkdir(path, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  const stats = await lstat(path);
  const ours = process.getuid === undefined || stats.uid === process.getuid();
  if (!stats.isDirectory() || !ours || (stats.mode & 0o077) !== 0) {
    throw new Error(`${path} must be a folder owned by this user and closed to others (mode 0700)`);
  }
}
