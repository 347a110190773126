import { readdir, readFile } from 'node:fs/promises';

/**
 * Finding embedded instances by what they carry rather than by who started them, the way EC2 instances
 * are found by their tags: every instance process is started with its owner's marker and its identity in
 * its environment, so a Kiln that crashed and started again finds (and only finds) the processes its
 * data folder launched, whatever their process name and whoever their parent now is.
 *
 * Linux only: the environment and the start time of another process are read from /proc. Elsewhere the
 * scan reports that it cannot verify, and callers must then never signal a pid they did not start
 * themselves in this process (a pid alone may name an unrelated process once the instance is gone).
 */

/** Variable holding the owner marker: a random id kept in the data folder's compute state file. */
export const OWNER_VARIABLE = 'KILN_COMPUTE_OWNER';

/** One running process started for an instance of the owner (or started by such a process). */
export interface InstanceProcess {
  pid: number;
  /** Process group: an instance leads its own (it is spawned detached), and its descendants share it. */
  pgid: number;
  /** Start time in clock ticks since boot: with the pid, it names this process and no later one. */
  startTime: number;
  /** The same start time as a moment (ISO-8601): how old the process is. */
  startedAt: string;
  /** KILN_INSTANCE_ID of its environment; undefined if missing (not something Kiln starts). */
  instanceId: string | undefined;
  /** KILN_STACK_ID of its environment. */
  stackId: string | undefined;
  /** PORT of its environment. */
  port: number | undefined;
}

export type InstanceScan =
  | { verifiable: true; processes: InstanceProcess[] }
  | { verifiable: false; reason: string };

/** What /proc/<pid>/stat says about a process, as far as telling it apart from a later one goes. */
interface ProcessStat {
  /** One letter: R, S, D, ... Z (zombie: exited, not reaped yet), X (dead). */
  state: string;
  pgid: number;
  startTime: number;
}

/** Whether processes can be identified here (their environment and start time are readable). */
export function canVerifyProcesses(): boolean {
  return process.platform === 'linux';
}

/** Every live process whose environment carries `KILN_COMPUTE_OWNER=<owner>`. */
export async function findInstanceProcesses(owner: string): Promise<InstanceScan> {
  if (!owner) throw new Error('an owner marker is required to find instance processes');
  if (!canVerifyProcesses()) {
    return { verifiable: false, reason: `instance processes cannot be verified on ${process.platform}` };
  }
  const pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry)).map(Number);
  const bootedAt = await bootTime();
  const processes: InstanceProcess[] = [];
  // Bounded batches: one open file per process at a time would exceed the fd limit on a busy host.
  for (let start = 0; start < pids.length; start += 64) {
    const batch = pids.slice(start, start + 64).map((pid) => inspect(pid, owner, bootedAt));
    for (const found of await Promise.all(batch)) if (found) processes.push(found);
  }
  return { verifiable: true, processes };
}

/**
 * The start time of a live process, or undefined when it is gone, a zombie, or cannot be read (not
 * Linux). Recorded next to a pid right after spawning it, to recognise that process later.
 */
export async function processStartTime(pid: number): Promise<number | undefined> {
  const stat = await readStat(pid);
  return stat && isLive(stat) ? stat.startTime : undefined;
}

/**
 * Whether `pid` still names the live process that started at `startTime`. False once it has exited
 * (zombies included: an orphan's new parent may be slow to reap it) or its pid was reused, and always
 * false where this cannot be verified.
 */
export async function isSameProcess(pid: number, startTime: number): Promise<boolean> {
  if (!canVerifyProcesses()) return false;
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone. EPERM: the pid now belongs to another user, so it is certainly not the instance.
    return false;
  }
  return (await processStartTime(pid)) === startTime;
}

async function inspect(pid: number, owner: string, bootedAt: number): Promise<InstanceProcess | undefined> {
  let environ: string;
  try {
    environ = await readFile(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return undefined; // exited meanwhile, or another user's process (not readable, so not ours)
  }
  // Cheap test first: almost every process on the host is not an instance.
  if (!environ.includes(owner)) return undefined;
  const variables = parseEnviron(environ);
  if (variables.get(OWNER_VARIABLE) !== owner) return undefined;
  const stat = await readStat(pid);
  if (!stat || !isLive(stat)) return undefined;
  const port = Number(variables.get('PORT'));
  return {
    pid,
    pgid: stat.pgid,
    startTime: stat.startTime,
    startedAt: new Date(bootedAt + (stat.startTime / USER_HZ) * 1000).toISOString(),
    instanceId: variables.get('KILN_INSTANCE_ID'),
    stackId: variables.get('KILN_STACK_ID'),
    port: Number.isInteger(port) && port > 0 ? port : undefined,
  };
}

/**
 * The unit of /proc's process times: USER_HZ, which Linux fixes at 100 for everything it exports to user
 * space (whatever the kernel's own tick rate), on every architecture Node runs on.
 */
const USER_HZ = 100;

/** When the host booted, in epoch milliseconds (`btime` of /proc/stat): what process start times count from. */
async function bootTime(): Promise<number> {
  const stat = await readFile('/proc/stat', 'utf8');
  const seconds = Number(/^btime (\d+)$/m.exec(stat)?.[1]);
  if (!Number.isFinite(seconds)) throw new Error('/proc/stat has no btime line');
  return seconds * 1000;
}

function parseEnviron(environ: string): Map<string, string> {
  const variables = new Map<string, string>();
  for (const entry of environ.split('\0')) {
    const equals = entry.indexOf('=');
    if (equals > 0) variables.set(entry.slice(0, equals), entry.slice(equals + 1));
  }
  return variables;
}

async function readStat(pid: number): Promise<ProcessStat | undefined> {
  if (!canVerifyProcesses()) return undefined;
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid pgrp ..." where comm may itself hold spaces and parentheses: fields are
  // counted from the last ')'. After it come field 3 (state), 5 (pgrp) and 22 (starttime) of proc(5).
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [state, pgid, startTime] = [fields[0], Number(fields[2]), Number(fields[19])];
  if (!state || !Number.isInteger(pgid) || !Number.isFinite(startTime)) return undefined;
  return { state, pgid, startTime };
}

function isLive(stat: ProcessStat): boolean {
  return stat.state !== 'Z' && stat.state !== 'X';
}
