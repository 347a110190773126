import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { access, mkdir, open } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LaunchFailedError } from '../../core/errors.ts';
import { reservedVariables } from '../../core/instance-env.ts';
import type { Compute, StackTags, TaggedStack } from '../../core/ports/compute.ts';
import type { Instance, InstanceState, Spec } from '../../core/types.ts';
import { acceptsConnections, freePort, LOOPBACK } from './free-port.ts';
import {
  canVerifyProcesses,
  findInstanceProcesses,
  type InstanceProcess,
  type InstanceScan,
  isSameProcess,
  OWNER_VARIABLE,
  processStartTime,
} from './instance-processes.ts';
import { JsonStateFile } from './state-file.ts';

export interface ProcessComputeOptions {
  /** Folder with one folder per artifact, each holding the artifact's `server.ts` entry point. */
  artifactsDir: string;
  /**
   * Where stacks, instances, their processes and this data folder's owner marker are recorded, so that
   * `restore()` finds the instances again after a restart or a crash.
   */
  stateFile?: string;
  /** Folder receiving each instance's stdout and stderr as `<instanceId>.log`; discarded without it. */
  logDir?: string;
}

/** Whether a stack found at startup should still run (say, it is not decommissioned). */
export type ShouldRun = (stackId: string) => boolean | Promise<boolean>;

/** What `restore()` did with what the previous run left behind, by instance id, for the runtime to log. */
export interface RestoreReport {
  /** Still running from the previous run and kept as they are: same process, same port, not restarted. */
  adopted: string[];
  /**
   * Processes of this data folder that were stopped: their stack should no longer run, their instance
   * was recorded terminated, or the state file did not know them (`pid <n>` when they carry no id).
   */
  stopped: string[];
  /** Stopped by a clean shutdown and started again on their recorded port. */
  restarted: string[];
  /** Recorded terminated now: their process died while Kiln was down, or they could not start again. */
  lost: { instanceId: string; reason: string }[];
}

interface InstanceRecord {
  id: string;
  /** Port the instance listens on; kept across restarts so that its address stays valid. */
  port: number;
  /**
   * - `running`: wanted and started; written before its process is spawned, so that a crash right after
   *   the spawn still lets the next start find the process (by its identity, see instance-processes.ts).
   * - `stopped`: wanted, but stopped by a clean shutdown; the next `restore()` starts it again.
   * - `terminated`: gone for good.
   */
  state: 'running' | 'stopped' | 'terminated';
  /** The instance's process, leader of its own process group; written right after the spawn. */
  pid?: number;
  /** The process's start time (clock ticks since boot, Linux only), so that a reused pid is never it. */
  startTime?: number;
  /**
   * When its termination began (epoch ms): SIGTERM was sent then, and SIGKILL follows once STOP_GRACE_MS
   * have passed. Reported `stopping` until its process has exited.
   */
  terminatingSince?: number;
}

interface StackRecord {
  tags: StackTags;
  spec: Spec;
  instances: InstanceRecord[];
}

interface ComputeState {
  /**
   * Marker every instance of this data folder carries as KILN_COMPUTE_OWNER, generated once. Absent from
   * files written before instances carried one.
   */
  owner?: string;
  stacks: Record<string, StackRecord>;
}

/** An instance's process, started by this Kiln (a child) or by a previous run (adopted). */
interface RunningProcess {
  /** Settles once the process is gone, however it went. */
  exited: Promise<void>;
  /** Signals the process group, and only while its leader is still this very process. */
  signal(signal: NodeJS.Signals): Promise<void>;
}

/** How long a launch waits for a new instance to accept connections; slower apps are left to health checks. */
const READY_TIMEOUT_MS = 5000;
const READY_POLL_MS = 50;
/** How long an instance may take to exit after SIGTERM before it is SIGKILLed (at shutdown, or when terminated). */
const STOP_GRACE_MS = 3000;
/** How long a SIGKILLed process may take to disappear before stopping it is reported as failed. */
const KILL_WAIT_MS = 2000;
/** How often an adopted process (not a child: no exit event) is checked for being still there. */
const WATCH_INTERVAL_MS = 300;
/** A plain folder name: no path separators, so a spec can never point outside the artifacts folder. */
const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Embedded compute: every instance is a process running the artifact's `server.ts` with the project's
 * Node, on its own loopback port. The stack's identity and this data folder's owner marker reach the
 * instance as environment variables (the embedded analogue of EC2 tags and user data).
 *
 * Instances belong to the data folder, not to the Kiln process, as EC2 instances outlive the Lambda that
 * launched them: each is spawned detached (its own process group and session, no pipe to Kiln), so a
 * crash of Kiln leaves them serving. With a `stateFile`, call `restore()` once at startup before
 * anything serves: it finds them again and adopts, stops or restarts them. `shutdown()` (Ctrl-C) stops
 * them all and has the next `restore()` start them again.
 *
 * Only Linux can tell an instance process from an unrelated one (see instance-processes.ts). Elsewhere
 * no pid is ever signalled unless this process spawned it and has not seen it exit: instances a crash
 * left behind are then not adopted, but reported lost with their pid, and left alone.
 */
export class ProcessCompute implements Compute {
  readonly #artifactsDir: string;
  readonly #logDir: string | undefined;
  readonly #stateFile: JsonStateFile<ComputeState> | undefined;
  readonly #stacks = new Map<string, StackRecord>();
  /** Live processes by instance id; an instance missing here is not running. */
  readonly #processes = new Map<string, RunningProcess>();
  /** Tail of each stack's queue of launch/terminate calls, so that concurrent calls cannot over-launch. */
  readonly #queues = new Map<string, Promise<void>>();
  /** This data folder's owner marker: read from the state file, or new (kept in memory without one). */
  #owner: Promise<string> | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(options: ProcessComputeOptions) {
    this.#artifactsDir = resolve(options.artifactsDir);
    this.#logDir = options.logDir;
    this.#stateFile = options.stateFile ? new JsonStateFile(options.stateFile) : undefined;
  }

  launchStack(tags: StackTags, spec: Spec): Promise<Instance[]> {
    return this.#serialized(tags.stackId, () => this.#launch(tags, spec));
  }

  async describeStack(stackId: string): Promise<Instance[]> {
    return (this.#stacks.get(stackId)?.instances ?? []).map(toInstance);
  }

  /**
   * SIGTERM to each instance, SIGKILL to one still there STOP_GRACE_MS after it (a later call sends it),
   * and returns at once: `describeStack` reports an instance `stopping` until its process has exited.
   */
  terminateStack(stackId: string): Promise<void> {
    return this.#serialized(stackId, () => this.#terminate(stackId));
  }

  /**
   * The stacks of the processes carrying this data folder's owner marker (the /proc scan), recorded or
   * not. Where processes cannot be verified (not Linux), the recorded running instances, without a launch
   * time.
   */
  async listTaggedStacks(): Promise<TaggedStack[]> {
    if (!canVerifyProcesses()) {
      return [...this.#stacks]
        .map(([stackId, stack]) => ({ stackId, instances: liveInstances(stack).map(toInstance) }))
        .filter((stack) => stack.instances.length > 0);
    }
    const scan = await findInstanceProcesses(await this.#ownerId());
    const stacks = new Map<string, TaggedStack>();
    for (const found of scan.verifiable ? scan.processes : []) {
      // An instance leads its own process group; whatever it started carries its identity too.
      if (found.stackId === undefined || found.instanceId === undefined || found.pid !== found.pgid) continue;
      const stack = stacks.get(found.stackId) ?? { stackId: found.stackId, instances: [] };
      stack.instances.push({
        id: found.instanceId,
        address: found.port === undefined ? '' : `http://${LOOPBACK}:${found.port}`,
        state: 'running',
      });
      if (stack.launchedAt === undefined || found.startedAt > stack.launchedAt)
        stack.launchedAt = found.startedAt;
      stacks.set(found.stackId, stack);
    }
    return [...stacks.values()];
  }

  /**
   * Takes over what the previous run left, once, at startup, before anything serves. Every process of
   * this data folder is found by its owner marker: one whose instance is recorded (not terminated) and
   * whose stack `shouldRun` is adopted as it is; any other is stopped. An instance recorded running whose
   * process is gone is recorded terminated: it died, and is never started again behind anyone's back.
   * Instances a clean shutdown stopped are started again on their recorded port when their stack
   * `shouldRun`; one that cannot (its port is taken, its artifact is gone) is recorded terminated, with a
   * warning. Stacks that had nothing left to run are forgotten, as EC2 eventually forgets terminated
   * instances. `shouldRun` defaults to every recorded stack.
   */
  async restore(shouldRun: ShouldRun = () => true): Promise<RestoreReport> {
    const report: RestoreReport = { adopted: [], stopped: [], restarted: [], lost: [] };
    const state = await this.#stateFile?.read();
    if (!state) return report;
    const owner = await this.#ownerId();
    // A file from before instances carried an owner: none of its processes can be found, and its
    // `running` meant "start again" (those versions killed every instance when Kiln exited).
    const legacy = state.owner === undefined;
    const scan: InstanceScan = legacy
      ? { verifiable: true, processes: [] }
      : await findInstanceProcesses(owner);
    const wanted = memoize(shouldRun);
    for (const [stackId, stack] of Object.entries(state.stacks)) this.#stacks.set(stackId, stack);
    /** Stacks whose instances change now: kept, so that describeStack shows what became of them. */
    const touched = new Set<string>();

    const known = new Map<string, { stackId: string; record: InstanceRecord }>();
    for (const [stackId, stack] of this.#stacks) {
      for (const record of stack.instances) known.set(record.id, { stackId, record });
    }
    const strays: InstanceProcess[] = [];
    const adoptedGroups = new Set<number>();
    for (const processes of byInstance(scan.verifiable ? scan.processes : [])) {
      const instanceId = processes[0]?.instanceId;
      const found = instanceId === undefined ? undefined : known.get(instanceId);
      const leader = leaderOf(processes, found?.record);
      if (found) touched.add(found.stackId);
      if (
        found &&
        found.record.state !== 'terminated' &&
        leader.stackId === found.stackId &&
        leader.port === found.record.port &&
        (await wanted(found.stackId))
      ) {
        Object.assign(found.record, { state: 'running', pid: leader.pid, startTime: leader.startTime });
        this.#watch(found.record, adoptedProcess(leader));
        adoptedGroups.add(leader.pgid);
        report.adopted.push(found.record.id);
      } else {
        if (found) found.record.state = 'terminated';
        strays.push(...processes);
        report.stopped.push(instanceId ?? `pid ${leader.pid}`);
      }
    }
    await this.#stopStrays(strays, adoptedGroups);

    const restarts: { stack: StackRecord; record: InstanceRecord }[] = [];
    for (const [stackId, stack] of this.#stacks) {
      for (const record of stack.instances) {
        if (record.state === 'terminated' || this.#processes.has(record.id)) continue;
        touched.add(stackId);
        if (record.state === 'running' && !legacy) {
          record.state = 'terminated';
          const reason = scan.verifiable
            ? 'its process is gone'
            : `${scan.reason}: its process${record.pid ? ` (pid ${record.pid})` : ''} may still run`;
          if (!scan.verifiable) process.emitWarning(`instance ${record.id} recorded terminated: ${reason}`);
          report.lost.push({ instanceId: record.id, reason });
        } else if (await wanted(stackId)) {
          restarts.push({ stack, record });
        } else {
          record.state = 'terminated';
        }
      }
    }
    for (const [stackId, stack] of this.#stacks) {
      if (!touched.has(stackId) && liveInstances(stack).length === 0) this.#stacks.delete(stackId);
    }
    await this.#save();
    await this.#restart(restarts, report);
    return report;
  }

  /**
   * Stops every instance (SIGTERM to its process group, then SIGKILL after a grace period), whether this
   * process started it or adopted it, and records it `stopped`: it is still wanted, and the next
   * `restore()` starts it again. Calls after the first return the first one's promise; launching is
   * refused from then on.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stopEverything();
    return this.#shutdown;
  }

  async #stopEverything(): Promise<void> {
    await Promise.all(this.#queues.values());
    // Recorded before stopping: a crash halfway leaves `stopped` records, which restore() handles whether
    // or not their process is still there (adopted if it is, started again if not). An instance being
    // terminated is not started again.
    for (const stack of this.#stacks.values()) {
      for (const record of stack.instances) {
        if (record.state === 'running') record.state = record.terminatingSince ? 'terminated' : 'stopped';
      }
    }
    await this.#save();
    const processes = [...this.#processes.entries()];
    this.#processes.clear();
    const stopped = await Promise.all(processes.map(([, running]) => stopProcess(running)));
    const survivors = processes.filter((_, index) => !stopped[index]).map(([instanceId]) => instanceId);
    if (survivors.length > 0) {
      process.emitWarning(`instances still running after SIGKILL: ${survivors.join(', ')}`);
    }
  }

  async #launch(tags: StackTags, spec: Spec): Promise<Instance[]> {
    // The edge refuses these already; a spec stored before it did must not reach the host either.
    const reserved = reservedVariables(Object.keys(spec.env));
    if (reserved.length > 0) {
      throw new LaunchFailedError(
        `not launching: spec.env sets ${reserved.join(', ')}, reserved by the host`,
      );
    }
    const entry = await this.#artifactEntry(spec.artifact);
    const stack = this.#stacks.get(tags.stackId) ?? { tags, spec, instances: [] };
    this.#stacks.set(tags.stackId, stack);
    const missing = spec.capacity - liveInstances(stack).length;
    if (missing <= 0) return liveInstances(stack).map(toInstance);
    if (this.#shutdown) throw new LaunchFailedError('embedded compute is shutting down: not launching');
    const launched: InstanceRecord[] = [];
    for (let count = 0; count < missing; count++) {
      const record: InstanceRecord = {
        id: `i-${tags.stackId}-${stack.instances.length + 1}`,
        port: await this.#unusedPort(),
        state: 'running',
      };
      stack.instances.push(record);
      launched.push(record);
    }
    await this.#save();
    // After a failed start the rest are not tried: whatever failed (say, the log folder) fails them too.
    let failure: unknown;
    for (const record of launched) {
      if (failure !== undefined) {
        record.state = 'terminated';
        continue;
      }
      try {
        await this.#start(stack, record, entry);
      } catch (error) {
        failure = error;
      }
    }
    await this.#save();
    if (failure !== undefined) throw failure;
    await Promise.all(launched.map((record) => this.#waitUntilReady(record)));
    return liveInstances(stack).map(toInstance);
  }

  async #terminate(stackId: string): Promise<void> {
    const stack = this.#stacks.get(stackId);
    if (stack) {
      const now = Date.now();
      const signals: [RunningProcess, NodeJS.Signals][] = [];
      for (const record of liveInstances(stack)) {
        const running = this.#processes.get(record.id);
        if (!running) {
          record.state = 'terminated';
        } else if (record.terminatingSince === undefined) {
          record.terminatingSince = now;
          signals.push([running, 'SIGTERM']);
        } else if (now - record.terminatingSince >= STOP_GRACE_MS) {
          signals.push([running, 'SIGKILL']);
        }
      }
      // Recorded before signalling: a crash in between sends SIGTERM again, which changes nothing.
      await this.#save();
      await Promise.all(signals.map(([running, signal]) => running.signal(signal)));
    }
    await this.#stopUnrecorded(stackId);
  }

  /**
   * Stops the processes of this data folder that carry the stack but that no record of this run tracks
   * (launched behind Kiln's back, or by a run whose state was lost), as EC2 terminates whatever carries a
   * stack's tags. Tracked by no record, they are stopped and waited for here: a rare path, bounded by
   * STOP_GRACE_MS and KILL_WAIT_MS.
   */
  async #stopUnrecorded(stackId: string): Promise<void> {
    if (!canVerifyProcesses()) return;
    const scan = await findInstanceProcesses(await this.#ownerId());
    if (!scan.verifiable) return;
    const strays = scan.processes.filter(
      (found) =>
        found.stackId === stackId &&
        !(found.instanceId !== undefined && this.#processes.has(found.instanceId)),
    );
    await this.#stopStrays(strays, new Set());
  }

  /** Starts instances a clean shutdown stopped, on their recorded port; one that cannot start is lost. */
  async #restart(restarts: { stack: StackRecord; record: InstanceRecord }[], report: RestoreReport) {
    const lose = (record: InstanceRecord, reason: string) => {
      record.state = 'terminated';
      report.lost.push({ instanceId: record.id, reason });
      process.emitWarning(`instance ${record.id} was not started again: ${reason}`);
    };
    if (restarts.length === 0) return;
    const startable: { stack: StackRecord; record: InstanceRecord; entry: string }[] = [];
    for (const { stack, record } of restarts) {
      const entry = await this.#artifactEntry(stack.spec.artifact).catch(() => undefined);
      if (!entry) lose(record, `its artifact "${stack.spec.artifact}" no longer exists`);
      // Checked rather than left to the app: an app that cannot bind may well keep running unbound.
      else if (!(await portIsFree(record.port))) lose(record, `port ${record.port} is in use`);
      else {
        Object.assign(record, { state: 'running', pid: undefined, startTime: undefined });
        startable.push({ stack, record, entry });
      }
    }
    await this.#save();
    const started: InstanceRecord[] = [];
    for (const { stack, record, entry } of startable) {
      try {
        await this.#start(stack, record, entry);
        started.push(record);
      } catch (error) {
        lose(record, (error as Error).message);
      }
    }
    await this.#save();
    await Promise.all(started.map((record) => this.#waitUntilReady(record)));
    for (const record of started) {
      if (record.state === 'running') report.restarted.push(record.id);
      else lose(record, 'its process exited right after starting (see its log)');
    }
  }

  /** Stops processes found at startup that are not adopted, one signal per process group. */
  async #stopStrays(strays: InstanceProcess[], adoptedGroups: Set<number>): Promise<void> {
    const groups = new Map<number, InstanceProcess>();
    for (const stray of strays) {
      // A group an adopted instance leads is that instance's: whatever else runs in it goes with it.
      if (adoptedGroups.has(stray.pgid)) continue;
      const current = groups.get(stray.pgid);
      if (!current || stray.pid === stray.pgid) groups.set(stray.pgid, stray);
    }
    const stopped = await Promise.all(
      [...groups.values()].map((stray) => stopProcess(adoptedProcess(stray))),
    );
    const survivors = [...groups.values()].filter((_, index) => !stopped[index]).map((stray) => stray.pid);
    if (survivors.length > 0) {
      process.emitWarning(`instance processes still running after SIGKILL: pids ${survivors.join(', ')}`);
    }
  }

  /**
   * Starts the process of an instance already recorded, then records its pid and start time. A record
   * whose process could not be started is terminated.
   */
  async #start(stack: StackRecord, record: InstanceRecord, entry: string): Promise<void> {
    let child: ChildProcess;
    try {
      child = await this.#spawn(stack, record, entry);
    } catch (error) {
      record.state = 'terminated';
      throw error;
    }
    this.#watch(record, childProcess(child));
    record.pid = child.pid;
    record.startTime = child.pid === undefined ? undefined : await processStartTime(child.pid);
  }

  /**
   * Spawns the instance's process, detached: its own process group (signals reach whatever the app
   * starts) and session, output to its log file, no pipe to Kiln, so that Kiln's end does not touch it.
   */
  async #spawn(stack: StackRecord, record: InstanceRecord, entry: string): Promise<ChildProcess> {
    const owner = await this.#ownerId();
    const output = this.#logDir ? await openLog(this.#logDir, record.id) : undefined;
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [entry], {
        env: instanceEnvironment(stack, record, owner),
        stdio: ['ignore', output?.fd ?? 'ignore', output?.fd ?? 'ignore'],
        detached: true,
      });
    } finally {
      await output?.close();
    }
    child.unref();
    if (child.pid === undefined) {
      // The spawn failed; its reason arrives as an 'error' event, which must not go unhandled.
      child.once('error', () => undefined);
      throw new LaunchFailedError(`could not start a process for instance ${record.id}`);
    }
    return child;
  }

  #watch(record: InstanceRecord, running: RunningProcess): void {
    this.#processes.set(record.id, running);
    void running.exited.then(() => this.#onExit(record, running));
  }

  /** Records an instance that exited on its own (crash, kill) as terminated; shutdown exits are not. */
  #onExit(record: InstanceRecord, running: RunningProcess): void {
    if (this.#processes.get(record.id) !== running) return;
    this.#processes.delete(record.id);
    record.state = 'terminated';
    this.#save().catch((error: Error) =>
      process.emitWarning(`could not record ${record.id} as terminated: ${error}`),
    );
  }

  /** Waits, within READY_TIMEOUT_MS, until the instance accepts connections or its process is gone. */
  async #waitUntilReady(record: InstanceRecord): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (Date.now() < deadline && this.#processes.has(record.id)) {
      if (await acceptsConnections(record.port)) return;
      await sleep(READY_POLL_MS);
    }
  }

  /** A free port not already promised to one of our instances that may not have bound it yet. */
  async #unusedPort(): Promise<number> {
    const taken = new Set(
      [...this.#stacks.values()].flatMap((stack) => liveInstances(stack).map((i) => i.port)),
    );
    let port = await freePort();
    while (taken.has(port)) port = await freePort();
    return port;
  }

  /** The artifact's entry point. Errors name the artifact, never a host path (they reach API callers). */
  async #artifactEntry(artifact: string): Promise<string> {
    if (!ARTIFACT_NAME.test(artifact) || artifact.includes('..')) {
      throw new LaunchFailedError(`invalid artifact name "${artifact}": expected a plain folder name`);
    }
    const entry = join(this.#artifactsDir, artifact, 'server.ts');
    try {
      await access(entry);
    } catch {
      throw new LaunchFailedError(
        `unknown artifact "${artifact}": no such artifact is installed (expected ${artifact}/server.ts)`,
      );
    }
    return entry;
  }

  #serialized<T>(stackId: string, task: () => Promise<T>): Promise<T> {
    const result = (this.#queues.get(stackId) ?? Promise.resolve()).then(task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(stackId, tail);
    void tail.then(() => {
      if (this.#queues.get(stackId) === tail) this.#queues.delete(stackId);
    });
    return result;
  }

  #ownerId(): Promise<string> {
    this.#owner ??= (async () => (await this.#stateFile?.read())?.owner ?? randomUUID())();
    return this.#owner;
  }

  async #save(): Promise<void> {
    if (!this.#stateFile) return;
    await this.#stateFile.write({ owner: await this.#ownerId(), stacks: Object.fromEntries(this.#stacks) });
  }
}

/**
 * Every instance process the data folder of `stateFile` owns, found by its owner marker, whatever the
 * state file says about them: for checkers and tests. Empty when the file does not exist (yet).
 */
export async function instanceProcessesOf(stateFile: string): Promise<InstanceScan> {
  const owner = (await new JsonStateFile<ComputeState>(stateFile).read())?.owner;
  return owner ? findInstanceProcesses(owner) : { verifiable: true, processes: [] };
}

function liveInstances(stack: StackRecord): InstanceRecord[] {
  return stack.instances.filter((record) => record.state !== 'terminated');
}

/** A `stopped` instance is reported `pending`: the next restore() starts it again. */
const REPORTED_STATE: Record<InstanceRecord['state'], InstanceState> = {
  running: 'running',
  stopped: 'pending',
  terminated: 'terminated',
};

/** A running instance being terminated is `stopping`, as EC2 reports one shutting down. */
function toInstance(record: InstanceRecord): Instance {
  const state =
    record.state === 'running' && record.terminatingSince !== undefined
      ? 'stopping'
      : REPORTED_STATE[record.state];
  return { id: record.id, address: `http://${LOOPBACK}:${record.port}`, state };
}

/**
 * The instance's whole environment: the spec's variables plus its identity and owner, which the spec
 * cannot override. The parent's environment is not passed on (only PATH), so that nothing of Kiln's
 * own configuration leaks into an app.
 */
function instanceEnvironment(stack: StackRecord, record: InstanceRecord, owner: string): NodeJS.ProcessEnv {
  return {
    ...stack.spec.env,
    ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
    PORT: String(record.port),
    APP_VERSION: stack.spec.version,
    KILN_ENVIRONMENT: stack.tags.environment,
    KILN_STACK_ID: stack.tags.stackId,
    KILN_DEPLOYMENT_ID: stack.tags.deploymentId,
    KILN_INSTANCE_ID: record.id,
    [OWNER_VARIABLE]: owner,
  };
}

/** The instance's log, private to the user running Kiln (it may echo the spec's secrets). */
async function openLog(logDir: string, instanceId: string) {
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  const file = await open(join(logDir, `${instanceId}.log`), 'a', 0o600);
  await file.chmod(0o600); // a file kept from an older version may have been created wider
  return file;
}

/** A child of this process: its exit event says when it is gone, and until then its pid is surely it. */
function childProcess(child: ChildProcess): RunningProcess {
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.on('error', () => undefined);
  });
  return {
    exited,
    // Until Node reaps it (and sets exitCode or signalCode), the pid cannot be reused.
    signal: async (signal) => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        // Where process groups cannot be signalled (Windows), the process itself still can.
        if (!signalGroup(child.pid, signal)) child.kill(signal);
      }
    },
  };
}

/**
 * A process found by its owner marker (not a child: no exit event). It is polled until gone; every
 * signal is preceded by checking that its pid still names it.
 */
function adoptedProcess({ pid, pgid, startTime }: InstanceProcess): RunningProcess {
  const exited = new Promise<void>((resolve) => {
    const check = async () => {
      if (await isSameProcess(pid, startTime)) setTimeout(check, WATCH_INTERVAL_MS).unref();
      else resolve();
    };
    void check();
  });
  return {
    exited,
    signal: async (signal) => {
      if (await isSameProcess(pid, startTime)) signalGroup(pgid, signal);
    },
  };
}

/** Signals a process group; false when that is impossible here (not when the group is already gone). */
function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    // ESRCH: the whole group is gone already, which is what was wanted.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  return true;
}

/**
 * SIGTERM, then SIGKILL if the process is still there after the grace period. Resolves true once it is
 * gone, false if it survived SIGKILL for KILL_WAIT_MS. The timers are not unref'd: the caller is waiting.
 */
async function stopProcess(running: RunningProcess): Promise<boolean> {
  await running.signal('SIGTERM');
  if (await settlesWithin(running.exited, STOP_GRACE_MS)) return true;
  await running.signal('SIGKILL');
  return settlesWithin(running.exited, KILL_WAIT_MS);
}

async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  const timeout = new AbortController();
  try {
    return await Promise.race([
      promise.then(() => true),
      sleep(ms, false, { signal: timeout.signal }).catch(() => false),
    ]);
  } finally {
    timeout.abort();
  }
}

/** Whether the loopback port can be bound right now. */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen(port, LOOPBACK, () => server.close(() => resolvePromise(true)));
  });
}

/** Found processes grouped by the instance they carry; processes carrying none each stand alone. */
function byInstance(processes: InstanceProcess[]): InstanceProcess[][] {
  const groups = new Map<string, InstanceProcess[]>();
  for (const found of processes) {
    const key = found.instanceId === undefined ? `pid:${found.pid}` : `id:${found.instanceId}`;
    groups.set(key, [...(groups.get(key) ?? []), found]);
  }
  return [...groups.values()];
}

/**
 * The instance's own process among those carrying its id (an app's children inherit its environment):
 * the recorded pid, else the leader of its process group.
 */
function leaderOf(processes: InstanceProcess[], record: InstanceRecord | undefined): InstanceProcess {
  const recorded = processes.find(
    (found) =>
      found.pid === record?.pid && (record.startTime === undefined || found.startTime === record.startTime),
  );
  return recorded ?? processes.find((found) => found.pid === found.pgid) ?? (processes[0] as InstanceProcess);
}

function memoize(shouldRun: ShouldRun): (stackId: string) => Promise<boolean> {
  const answers = new Map<string, Promise<boolean>>();
  return (stackId) => {
    let answer = answers.get(stackId);
    if (!answer) {
      answer = Promise.resolve(shouldRun(stackId));
      answers.set(stackId, answer);
    }
    return answer;
  };
}
