import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdir, open } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LaunchFailedError } from '../../core/errors.ts';
import type { Compute, StackTags } from '../../core/ports/compute.ts';
import type { Instance, Spec } from '../../core/types.ts';
import { acceptsConnections, freePort, LOOPBACK } from './free-port.ts';
import { JsonStateFile } from './state-file.ts';

export interface ProcessComputeOptions {
  /** Folder with one folder per artifact, each holding the artifact's `server.ts` entry point. */
  artifactsDir: string;
  /** Where stacks and instances are recorded so that `restore()` can bring them back after a restart. */
  stateFile?: string;
  /** Folder receiving each instance's stdout and stderr as `<instanceId>.log`; discarded without it. */
  logDir?: string;
}

interface InstanceRecord {
  id: string;
  /** Port the instance listens on; kept across restarts so that its address stays valid. */
  port: number;
  state: 'running' | 'terminated';
}

interface StackRecord {
  tags: StackTags;
  spec: Spec;
  instances: InstanceRecord[];
}

interface ComputeState {
  stacks: Record<string, StackRecord>;
}

interface RunningProcess {
  child: ChildProcess;
  /** Settles once the process is gone, however it went. */
  exited: Promise<void>;
}

/** How long a launch waits for a new instance to accept connections; slower apps are left to health checks. */
const READY_TIMEOUT_MS = 5000;
const READY_POLL_MS = 50;
/** How long an instance may take to exit after SIGTERM before it is SIGKILLed. */
const STOP_GRACE_MS = 3000;
/** A plain folder name: no path separators, so a spec can never point outside the artifacts folder. */
const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Children of every ProcessCompute in this process. If Kiln exits without `shutdown()` (an uncaught
 * error, `process.exit`), the hook below kills them so that no instance outlives the process that owns it.
 * Only synchronous work is possible in an exit hook, hence SIGKILL without a grace period.
 */
const runningChildren = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of runningChildren) child.kill('SIGKILL');
});

/**
 * Embedded compute: every instance is a child process running the artifact's `server.ts` with the
 * project's Node, on its own loopback port. The stack's identity reaches the instance as environment
 * variables (the embedded analogue of EC2 tags and user data). With a `stateFile`, call `restore()`
 * once at startup before anything else: it reloads the recorded stacks and restarts their instances.
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

  terminateStack(stackId: string): Promise<void> {
    return this.#serialized(stackId, () => this.#terminate(stackId));
  }

  /**
   * Reloads the state file and restarts every instance it records as running, on its recorded port, so
   * that addresses held by the state store and the traffic provider stay valid across restarts.
   * Stacks with no running instance are forgotten, as EC2 eventually forgets terminated instances.
   */
  async restore(): Promise<void> {
    const state = await this.#stateFile?.read();
    if (!state) return;
    const restarted: InstanceRecord[] = [];
    for (const [stackId, stack] of Object.entries(state.stacks)) {
      if (liveInstances(stack).length === 0) continue;
      this.#stacks.set(stackId, stack);
      restarted.push(...(await this.#restart(stack)));
    }
    await this.#save();
    await Promise.all(restarted.map((record) => this.#waitUntilReady(record)));
  }

  /**
   * Stops every instance (SIGTERM, then SIGKILL after a grace period) without recording them as
   * terminated: they are still wanted and `restore()` brings them back on the next start.
   */
  async shutdown(): Promise<void> {
    const processes = [...this.#processes.values()];
    this.#processes.clear();
    await Promise.all(processes.map(stopProcess));
  }

  async #launch(tags: StackTags, spec: Spec): Promise<Instance[]> {
    const entry = await this.#artifactEntry(spec.artifact);
    const stack = this.#stacks.get(tags.stackId) ?? { tags, spec, instances: [] };
    this.#stacks.set(tags.stackId, stack);
    const launched: InstanceRecord[] = [];
    for (let missing = spec.capacity - liveInstances(stack).length; missing > 0; missing--) {
      const record: InstanceRecord = {
        id: `i-${tags.stackId}-${stack.instances.length + 1}`,
        port: await this.#unusedPort(),
        state: 'running',
      };
      stack.instances.push(record);
      await this.#start(stack, record, entry);
      launched.push(record);
    }
    if (launched.length > 0) await this.#save();
    await Promise.all(launched.map((record) => this.#waitUntilReady(record)));
    return liveInstances(stack).map(toInstance);
  }

  async #terminate(stackId: string): Promise<void> {
    const stack = this.#stacks.get(stackId);
    if (!stack) return;
    await Promise.all(
      stack.instances.map(async (record) => {
        const running = this.#processes.get(record.id);
        if (running) await stopProcess(running);
        record.state = 'terminated';
      }),
    );
    await this.#save();
  }

  /** Restarts a restored stack's running instances; an artifact that has since vanished ends them. */
  async #restart(stack: StackRecord): Promise<InstanceRecord[]> {
    const pending = liveInstances(stack).filter((record) => !this.#processes.has(record.id));
    let entry: string;
    try {
      entry = await this.#artifactEntry(stack.spec.artifact);
    } catch {
      for (const record of pending) record.state = 'terminated';
      return [];
    }
    for (const record of pending) await this.#start(stack, record, entry);
    return pending;
  }

  async #start(stack: StackRecord, record: InstanceRecord, entry: string): Promise<void> {
    const output = this.#logDir ? await openLog(this.#logDir, record.id) : undefined;
    try {
      const child = spawn(process.execPath, [entry], {
        env: instanceEnvironment(stack, record),
        stdio: ['ignore', output?.fd ?? 'ignore', output?.fd ?? 'ignore'],
        detached: false,
      });
      const running = { child, exited: exitOf(child) };
      this.#processes.set(record.id, running);
      runningChildren.add(child);
      void running.exited.then(() => this.#onExit(record, child));
    } finally {
      await output?.close();
    }
  }

  /** Records an instance that exited on its own (crash, kill) as terminated; shutdown exits are not. */
  #onExit(record: InstanceRecord, child: ChildProcess): void {
    runningChildren.delete(child);
    if (this.#processes.get(record.id)?.child !== child) return;
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

  async #save(): Promise<void> {
    await this.#stateFile?.write({ stacks: Object.fromEntries(this.#stacks) });
  }
}

function liveInstances(stack: StackRecord): InstanceRecord[] {
  return stack.instances.filter((record) => record.state !== 'terminated');
}

function toInstance(record: InstanceRecord): Instance {
  return { id: record.id, address: `http://${LOOPBACK}:${record.port}`, state: record.state };
}

/**
 * The instance's whole environment: the spec's variables plus its identity. The parent's environment is
 * not passed on (only PATH), so that nothing of Kiln's own configuration leaks into an app.
 */
function instanceEnvironment(stack: StackRecord, record: InstanceRecord): NodeJS.ProcessEnv {
  return {
    ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
    ...stack.spec.env,
    PORT: String(record.port),
    APP_VERSION: stack.spec.version,
    KILN_ENVIRONMENT: stack.tags.environment,
    KILN_STACK_ID: stack.tags.stackId,
    KILN_DEPLOYMENT_ID: stack.tags.deploymentId,
    KILN_INSTANCE_ID: record.id,
  };
}

/** The instance's log, private to the user running Kiln (it may echo the spec's secrets). */
async function openLog(logDir: string, instanceId: string) {
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  const file = await open(join(logDir, `${instanceId}.log`), 'a', 0o600);
  await file.chmod(0o600); // a file kept from an older version may have been created wider
  return file;
}

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    // A process that could not be started emits 'error' and never 'exit'. Kept for the child's lifetime:
    // a failed kill() also emits 'error', which would throw without a listener.
    child.on('error', () => {
      if (child.pid === undefined) resolve();
    });
  });
}

/** SIGTERM, then SIGKILL if the process is still there after the grace period; resolves once it is gone. */
async function stopProcess({ child, exited }: RunningProcess): Promise<void> {
  child.kill('SIGTERM');
  const escalation = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(escalation);
}
