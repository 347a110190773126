/**
 * The embedded Step Functions: runs the real `state-machines/*.asl.json` in-process with
 * aws-local-stepfunctions, every Task state dispatched to the Kiln handler module its
 * `${<Name>FunctionArn}` resource names.
 *
 * Executions resume where they stopped, as Step Functions' do: each one keeps a checkpoint file
 * (the top-level state it last entered and that state's input), written before that state's task
 * runs, and a restarted runner continues every checkpointed execution from that state. A completed
 * state never runs again; the state that was in flight when the process died runs again, which is
 * the at-least-once delivery every Kiln task is built for (Lambda retries too).
 */

import { readdirSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'aws-lambda';
import {
  ExecutionAbortedError,
  ExecutionError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import {
  type AslDefinition,
  checkDefinition,
  functionNameOf,
  loadDefinition,
  substitute,
  taskStates,
} from '../../asl.ts';
import type { TaskAnswer, WorkflowInput, WorkflowName, Workflows } from '../../core/ports/workflows.ts';
import { localLambdaContext } from './lambda-context.ts';
import { JsonStateFile } from './state-file.ts';
import { within } from './within.ts';

/** A Lambda handler as Kiln's task modules export it (middy-wrapped). */
export type TaskHandler = (event: unknown, context: Context) => Promise<unknown>;

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';

export interface ExecutionEnd {
  workflow: WorkflowName;
  deploymentId: string;
  status: Exclude<ExecutionStatus, 'RUNNING'>;
  /** For FAILED: the error that failed the execution (a handler's error, a Fail state, a timeout). */
  error?: { name: string; message: string };
  /** For SUCCEEDED: the execution's output. */
  output?: unknown;
}

export interface LocalStepFunctionsOptions {
  /** Every `<workflow>.asl.json` in it is loaded. */
  stateMachinesDir: string;
  /** Function name (`AcquireLease`) → its handler. Every Task state of every definition needs one. */
  tasks: Record<string, TaskHandler>;
  /** Folder of the running executions' checkpoints, so that the next process resumes them; unset: none kept. */
  executionsDir?: string;
  onExecutionEnd?: (end: ExecutionEnd) => void;
  /** Called as each state is entered, nested ones (Map iterations) included: Step Functions' "state transitions". */
  onStateEntered?: (entered: { workflow: WorkflowName; deploymentId: string; state: string }) => void;
  /**
   * Milliseconds to wait before each retry of a state, by state name, instead of its Retry's
   * IntervalSeconds: a test of a long wait (ProvisionStack waiting 15 minutes for an image) runs in
   * seconds, with the definition's attempts and Catch unchanged.
   */
  retryIntervalOverrides?: Readonly<Record<string, number>>;
  /**
   * Seconds a callback Task (`.waitForTaskToken`) waits for its answer instead of its TimeoutSeconds (an
   * approval's 24 hours): how a test or a trial sees an approval expire, through the same Catch.
   */
  callbackTimeoutSeconds?: number;
  log?: (message: string, detail?: object) => void;
}

type JsonValue = Parameters<StateMachine['run']>[0];

/** Where an execution stands, as its checkpoint file records it: enough to continue it. */
export interface ExecutionCheckpoint {
  workflow: WorkflowName;
  input: WorkflowInput;
  startedAt: string;
  /** The top-level state last entered and its input; absent until the first state is entered. */
  state?: { name: string; input: JsonValue; enteredAt: string };
}

interface TaskBinding {
  stateName: string;
  functionName: string;
  handler: TaskHandler;
  timeoutMs: number;
  /** A `.waitForTaskToken` Task: the handler gets the Payload, the state waits for the token's answer. */
  callback?: true;
}

/** How an execution waits for the answer to a callback Task's token. */
type AwaitAnswer = (taskToken: string) => Promise<TaskAnswer>;

/** A loaded workflow: its (substituted) definition and one runnable machine per state it may start at. */
class LoadedWorkflow {
  readonly definition: AslDefinition;
  readonly tasks: TaskBinding[];
  readonly #machines = new Map<string, StateMachine>();

  constructor(definition: AslDefinition, tasks: TaskBinding[]) {
    this.definition = definition;
    this.tasks = tasks;
  }

  isTopLevelState(name: string): boolean {
    return Object.hasOwn(this.definition.States, name);
  }

  /** The machine started at `stateName` (its StartAt by default): how a resumed execution continues. */
  machineFrom(stateName: string = this.definition.StartAt): StateMachine {
    let machine = this.#machines.get(stateName);
    if (!machine) {
      // checkDefinition ran the newer asl-validator: validating again would cost ~0.3 s per workflow.
      machine = new StateMachine(
        { ...this.definition, StartAt: stateName } as unknown as StateMachineDefinition,
        {
          validationOptions: { noValidate: true },
        },
      );
      this.#machines.set(stateName, machine);
    }
    return machine;
  }
}

type Outcome = Pick<ExecutionEnd, 'status' | 'error' | 'output'>;

const ASL_SUFFIX = '.asl.json';
const CHECKPOINT_SUFFIX = '.execution.json';
const LOCAL_ACCOUNT = 'local:000000000000';
/** aws-local-stepfunctions fails a Task with States.Timeout after 60 s when the state sets no TimeoutSeconds. */
const RUNNER_DEFAULT_TASK_TIMEOUT_SECONDS = 60;

/** The ARN `${<Name>FunctionArn}` resolves to embedded; never called, it only names the function. */
function localFunctionArn(functionName: string): string {
  return `arn:aws:lambda:${LOCAL_ACCOUNT}:function:kiln-${functionName}`;
}

export class LocalStepFunctions implements Workflows {
  readonly #workflows: Map<string, LoadedWorkflow>;
  readonly #executions = new Map<string, Execution>();
  readonly #executionsDir: string | undefined;
  readonly #onExecutionEnd: (end: ExecutionEnd) => void;
  readonly #onStateEntered: NonNullable<LocalStepFunctionsOptions['onStateEntered']>;
  readonly #retryIntervalOverrides: Readonly<Record<string, number>>;
  readonly #log: (message: string, detail?: object) => void;
  readonly #callbackTimeoutMs: number | undefined;
  /** The callback Tasks waiting, by task token: answerTask settles them. */
  readonly #waiting = new Map<string, (answer: TaskAnswer) => void>();
  /** Left running by the previous process and not resumed yet: they count as running. */
  #interrupted: ExecutionCheckpoint[];
  #closed = false;

  private constructor(
    workflows: Map<string, LoadedWorkflow>,
    interrupted: ExecutionCheckpoint[],
    options: LocalStepFunctionsOptions,
  ) {
    this.#workflows = workflows;
    this.#executionsDir = options.executionsDir;
    this.#interrupted = interrupted;
    this.#onExecutionEnd = options.onExecutionEnd ?? (() => {});
    this.#onStateEntered = options.onStateEntered ?? (() => {});
    this.#retryIntervalOverrides = options.retryIntervalOverrides ?? {};
    this.#log = options.log ?? (() => {});
    this.#callbackTimeoutMs =
      options.callbackTimeoutSeconds === undefined ? undefined : options.callbackTimeoutSeconds * 1000;
  }

  /**
   * Loads and checks every definition and reads the checkpoints the previous process left. Throws when a
   * Task's function has no handler: without one aws-local-stepfunctions would call real AWS Lambda.
   */
  static async create(options: LocalStepFunctionsOptions): Promise<LocalStepFunctions> {
    const workflows = loadWorkflows(options.stateMachinesDir, options.tasks);
    const interrupted = options.executionsDir ? await readCheckpoints(options.executionsDir) : [];
    return new LocalStepFunctions(workflows, interrupted, options);
  }

  /**
   * Starts the execution named by the deployment id in the background, once its checkpoint is on
   * disk; a known name is a no-op.
   */
  async start(workflow: WorkflowName, input: WorkflowInput): Promise<void> {
    const key = executionKey(workflow, input.deploymentId);
    if (this.#executions.has(key) || this.#isInterrupted(workflow, input.deploymentId)) return;
    await this.#run({ workflow, input, startedAt: new Date().toISOString() });
  }

  /**
   * Settles the callback Task waiting on the token. None waits (answered already, timed out, or its
   * execution not resumed yet after a restart): ignored, as Step Functions ignores a stale token; a
   * resumed execution's task finds the answer in the records itself (see core/deployment/approval.ts).
   */
  async answerTask(taskToken: string, answer: TaskAnswer): Promise<void> {
    const settle = this.#waiting.get(taskToken);
    this.#waiting.delete(taskToken);
    settle?.(answer);
  }

  async isRunning(workflow: WorkflowName, deploymentId: string): Promise<boolean> {
    return (
      this.#executions.get(executionKey(workflow, deploymentId))?.status === 'RUNNING' ||
      this.#isInterrupted(workflow, deploymentId)
    );
  }

  /**
   * Continues every execution the previous process left running, each from the state it was in.
   * All are registered before any runs, so none of them finds another one "not running".
   */
  async resumeInterrupted(): Promise<ExecutionCheckpoint[]> {
    const interrupted = this.#interrupted.filter(({ workflow, input }) => {
      if (this.#workflows.has(workflow)) return true;
      this.#log(`cannot resume ${workflow} ${input.deploymentId}: no state machine`);
      return false;
    });
    const executions = interrupted.map((checkpoint) => this.#register(checkpoint));
    this.#interrupted = [];
    for (const [index, execution] of executions.entries()) {
      const checkpoint = interrupted[index] as ExecutionCheckpoint;
      this.#log(
        `${checkpoint.workflow} ${checkpoint.input.deploymentId} resumed at ${checkpoint.state?.name ?? 'its start'}`,
        {
          workflow: checkpoint.workflow,
          ...checkpoint.input,
        },
      );
      await this.#launch(execution);
    }
    return interrupted;
  }

  /** Resolves once no execution runs, including executions started while waiting. */
  async waitForIdle(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let running = this.#running(); running.length > 0; running = this.#running()) {
      const names = running.map(({ workflow, input }) => `${workflow} ${input.deploymentId}`).join(', ');
      await within(
        Promise.all(running.map(({ done }) => done)),
        deadline - Date.now(),
        `Still running after ${timeoutMs} ms: ${names}`,
      );
    }
  }

  /**
   * Aborts every running execution and waits for the task calls in flight, keeping their checkpoints so
   * that the next process resumes them where they were.
   */
  async shutdown(): Promise<void> {
    this.#closed = true;
    const executions = [...this.#executions.values()];
    for (const execution of executions) if (execution.status === 'RUNNING') execution.abort();
    await Promise.all(executions.map(({ done }) => done));
  }

  #isInterrupted(workflow: WorkflowName, deploymentId: string): boolean {
    return this.#interrupted.some((c) => c.workflow === workflow && c.input.deploymentId === deploymentId);
  }

  async #run(checkpoint: ExecutionCheckpoint): Promise<void> {
    if (this.#closed) throw new Error('The embedded Step Functions are shut down');
    if (!this.#workflows.has(checkpoint.workflow)) {
      throw new Error(`No state machine for workflow "${checkpoint.workflow}"`);
    }
    const execution = this.#register(checkpoint);
    this.#log(`${checkpoint.workflow} ${checkpoint.input.deploymentId} started`, {
      workflow: checkpoint.workflow,
      ...checkpoint.input,
    });
    await this.#launch(execution);
  }

  /** Registered before it runs: the first handler is called synchronously by the run. */
  #register(checkpoint: ExecutionCheckpoint): Execution {
    const file = this.#executionsDir
      ? new JsonStateFile<ExecutionCheckpoint>(checkpointPath(this.#executionsDir, checkpoint))
      : undefined;
    const execution = new Execution(
      checkpoint,
      file,
      (state) =>
        this.#onStateEntered({
          workflow: checkpoint.workflow,
          deploymentId: checkpoint.input.deploymentId,
          state,
        }),
      this.#retryIntervalOverrides,
      (taskToken) => this.#awaitAnswer(taskToken),
    );
    this.#executions.set(executionKey(checkpoint.workflow, checkpoint.input.deploymentId), execution);
    return execution;
  }

  async #launch(execution: Execution): Promise<void> {
    if (this.#closed) throw new Error('The embedded Step Functions are shut down');
    await execution.run(this.#workflows.get(execution.workflow) as LoadedWorkflow, (outcome) =>
      this.#end(execution, outcome),
    );
  }

  /** Registered before the callback Task's handler runs (it may answer at once); bounded by the override. */
  #awaitAnswer(taskToken: string): Promise<TaskAnswer> {
    const answered = new Promise<TaskAnswer>((resolve) => this.#waiting.set(taskToken, resolve));
    const timeoutMs = this.#callbackTimeoutMs;
    if (timeoutMs === undefined) return answered;
    return Promise.race([
      answered,
      sleep(timeoutMs).then((): TaskAnswer => {
        this.#waiting.delete(taskToken);
        return { error: 'States.Timeout', cause: `no answer within ${timeoutMs / 1000} s` };
      }),
    ]);
  }

  #running(): Execution[] {
    return [...this.#executions.values()].filter(({ status }) => status === 'RUNNING');
  }

  /** Never throws: nothing awaits an execution's end but waitForIdle and shutdown. */
  async #end(execution: Execution, outcome: Outcome): Promise<void> {
    execution.status = outcome.status;
    const { workflow, input } = execution;
    const reason = outcome.error ? `: ${outcome.error.name}: ${outcome.error.message}` : '';
    try {
      this.#log(`${workflow} ${input.deploymentId} ${outcome.status.toLowerCase()}${reason}`, {
        workflow,
        ...input,
        status: outcome.status,
        ...(outcome.error ? { error: outcome.error } : {}),
      });
      this.#onExecutionEnd({ workflow, deploymentId: input.deploymentId, ...outcome });
    } catch (error) {
      this.#log(`${workflow} ${input.deploymentId}: could not handle its end`, { error: String(error) });
    }
  }
}

/** One run of a workflow in this process, from its start or from the state its checkpoint names. */
class Execution {
  readonly workflow: WorkflowName;
  readonly input: WorkflowInput;
  status: ExecutionStatus = 'RUNNING';
  /** Settles after the run, every task call it made, its checkpoint's last write, and its `onEnd`. Never rejects. */
  done: Promise<void> = Promise.resolve();
  #checkpoint: ExecutionCheckpoint;
  readonly #file: JsonStateFile<ExecutionCheckpoint> | undefined;
  /** The latest checkpoint write; a task runs only once the state it belongs to is on disk. */
  #saved: Promise<void> = Promise.resolve();
  #abortRun: () => void = () => {};
  readonly #inFlight = new Set<Promise<unknown>>();
  #aborted = false;
  readonly #onStateEntered: (state: string) => void;
  readonly #retryIntervalOverrides: Readonly<Record<string, number>>;
  readonly #awaitAnswer: AwaitAnswer;
  /** Ends the callback waits on abort: the runner clears a Task's timeout timer only once its call settles. */
  readonly #stopWaiting = new AbortController();

  constructor(
    checkpoint: ExecutionCheckpoint,
    file: JsonStateFile<ExecutionCheckpoint> | undefined,
    onStateEntered: (state: string) => void,
    retryIntervalOverrides: Readonly<Record<string, number>>,
    awaitAnswer: AwaitAnswer,
  ) {
    this.workflow = checkpoint.workflow;
    this.input = checkpoint.input;
    this.#checkpoint = checkpoint;
    this.#file = file;
    this.#onStateEntered = onStateEntered;
    this.#retryIntervalOverrides = retryIntervalOverrides;
    this.#awaitAnswer = awaitAnswer;
  }

  /** Writes the checkpoint as it stands, then runs in the background. */
  async run(loaded: LoadedWorkflow, onEnd: (outcome: Outcome) => Promise<void>): Promise<void> {
    await this.#save();
    const resumeAt = this.#checkpoint.state;
    const run = loaded.machineFrom(resumeAt?.name).run(resumeAt ? resumeAt.input : toJson(this.input), {
      overrides: {
        taskResourceLocalHandlers: this.#localHandlers(loaded.tasks),
        retryIntervalOverrides: { ...this.#retryIntervalOverrides },
      },
      context: contextObject(this.workflow, this.input.deploymentId),
    });
    this.#abortRun = run.abort;
    const recording = this.#recordProgress(run.eventLogs, loaded);
    this.done = this.#outcome(run.result, recording).then(onEnd);
  }

  abort(): void {
    this.#aborted = true;
    this.#abortRun();
    this.#stopWaiting.abort();
  }

  /** Checkpoints every top-level state as it is entered (Map iterations carry an index: not top level). */
  async #recordProgress(events: AsyncIterable<RunnerEvent>, loaded: LoadedWorkflow): Promise<void> {
    for await (const event of events) {
      if (event.type !== 'StateEntered' || !event.state) continue;
      this.#onStateEntered(event.state.name);
      if (event.index !== undefined || !loaded.isTopLevelState(event.state.name)) continue;
      this.#checkpoint = {
        ...this.#checkpoint,
        state: {
          name: event.state.name,
          input: event.state.input,
          enteredAt: new Date(event.timestamp).toISOString(),
        },
      };
      void this.#save();
    }
  }

  #save(): Promise<void> {
    if (!this.#file) return this.#saved;
    this.#saved = this.#file.write(this.#checkpoint);
    // Awaited by the next task call; marked handled here so a failed write between calls cannot crash the process.
    this.#saved.catch(() => undefined);
    return this.#saved;
  }

  async #outcome(result: Promise<unknown>, recording: Promise<void>): Promise<Outcome> {
    const outcome = await result.then((output): Outcome => ({ status: 'SUCCEEDED', output }), outcomeOf);
    // A Task timeout or an abort settles the run while a handler still works: let it finish.
    await Promise.allSettled(this.#inFlight);
    await recording;
    await this.#saved.catch(() => undefined);
    // An aborted execution (shutdown) keeps its checkpoint: the next process continues it.
    if (outcome.status !== 'ABORTED') await this.#file?.remove();
    return outcome;
  }

  /** aws-local-stepfunctions overrides Task states by state name, at any depth. */
  #localHandlers(tasks: TaskBinding[]): Record<string, (input: JsonValue) => Promise<JsonValue>> {
    return Object.fromEntries(
      tasks.map((task) => [
        task.stateName,
        (input: JsonValue) => (task.callback ? this.#callBack(task, input) : this.#call(task, input)),
      ]),
    );
  }

  /**
   * A `.waitForTaskToken` Task: the runner hands its override `{ FunctionName, Payload }`; the handler gets
   * the Payload (with the token) and returns, then the state waits for the token's answer: its output is
   * the state's result, its error fails the state under the error's name (what Catch matches).
   */
  async #callBack(task: TaskBinding, input: JsonValue): Promise<JsonValue> {
    const payload = (input as { Payload?: { taskToken?: unknown } }).Payload;
    if (typeof payload?.taskToken !== 'string') throw new Error(`${task.stateName} passes no taskToken`);
    const answer = this.#awaitAnswer(payload.taskToken);
    await this.#call(task, payload as JsonValue);
    const stopped = new Promise<never>((_, reject) => {
      const signal = this.#stopWaiting.signal;
      if (signal.aborted) reject(new ExecutionAbortedError());
      signal.addEventListener('abort', () => reject(new ExecutionAbortedError()), { once: true });
    });
    const answered = await Promise.race([answer, stopped]);
    if ('output' in answered) return toJson(answered.output);
    throw Object.assign(new Error(answered.cause), { name: answered.error });
  }

  /** Calls a handler as Lambda does: JSON in, JSON out, a fresh context; its errors keep their name. */
  async #call(task: TaskBinding, input: JsonValue): Promise<JsonValue> {
    // The runner entered this Task's state just before calling: let the progress recorder take that
    // event, then wait until it is on disk, so a crash from here on resumes at this state, not before it.
    await nextTurn();
    await this.#saved;
    // An abort cuts a Retry's wait short and the runner then retries the Task: refuse that call.
    if (this.#aborted) throw new ExecutionAbortedError();
    const call = task
      .handler(toJson(input), localLambdaContext(`kiln-${task.functionName}`, task.timeoutMs))
      .then(toJson);
    this.#inFlight.add(call);
    try {
      return await call;
    } finally {
      this.#inFlight.delete(call);
    }
  }
}

/** The part of aws-local-stepfunctions' event log entries the progress recorder reads. */
interface RunnerEvent {
  type: string;
  timestamp: number;
  /** Set on the state events of Map iterations. */
  index?: number;
  state?: { name: string; input: JsonValue };
}

async function readCheckpoints(dir: string): Promise<ExecutionCheckpoint[]> {
  let files: string[];
  try {
    files = (await readdir(dir)).filter((file) => file.endsWith(CHECKPOINT_SUFFIX)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const checkpoints = await Promise.all(
    files.map((file) => new JsonStateFile<ExecutionCheckpoint>(join(dir, file)).read()),
  );
  return checkpoints
    .filter((checkpoint) => checkpoint !== undefined)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt));
}

/** `<workflow>.<deploymentId>.execution.json`; both names are encoded so neither can leave the folder. */
function checkpointPath(
  dir: string,
  { workflow, input }: Pick<ExecutionCheckpoint, 'workflow' | 'input'>,
): string {
  return join(
    dir,
    `${encodeURIComponent(workflow)}.${encodeURIComponent(input.deploymentId)}${CHECKPOINT_SUFFIX}`,
  );
}

/** Every `<workflow>.asl.json` in `dir`, substituted and checked, each Task bound to its handler. */
function loadWorkflows(dir: string, tasks: Record<string, TaskHandler>): Map<string, LoadedWorkflow> {
  const files = readdirSync(dir)
    .filter((file) => file.endsWith(ASL_SUFFIX))
    .sort();
  return new Map(
    files.map((file) => [file.slice(0, -ASL_SUFFIX.length), loadWorkflow(join(dir, file), tasks)]),
  );
}

function loadWorkflow(path: string, tasks: Record<string, TaskHandler>): LoadedWorkflow {
  try {
    const raw = loadDefinition(path);
    const bindings = bindTasks(raw, tasks);
    const definition = substitute(raw, functionArns(bindings));
    const problems = checkDefinition(definition);
    if (problems.length > 0) throw new Error(problems.join('; '));
    const loaded = new LoadedWorkflow(definition, bindings);
    loaded.machineFrom(); // builds the machine now, so a broken definition fails at load, not at first start
    return loaded;
  } catch (error) {
    throw new Error(`Cannot run state machine ${path}: ${(error as Error).message}`, { cause: error });
  }
}

function bindTasks(definition: AslDefinition, tasks: Record<string, TaskHandler>): TaskBinding[] {
  const refs = taskStates(definition).map((ref) => ({ ...ref, functionName: functionNameOf(ref.resource) }));
  const missing = refs.filter(({ functionName }) => !Object.hasOwn(tasks, functionName));
  if (missing.length > 0) {
    const functions = [...new Set(missing.map(({ functionName }) => functionName))].join(', ');
    const states = missing.map(({ stateName }) => `"${stateName}"`).join(', ');
    throw new Error(
      `no task handler for function(s) ${functions} (Task state(s) ${states}): a Task without a local handler would call real AWS Lambda`,
    );
  }
  return refs.map(({ stateName, functionName, timeoutSeconds, callback }) => ({
    stateName,
    functionName,
    handler: tasks[functionName],
    // A callback Task's timeout is its wait for the answer; the handler itself gets the runner's default.
    timeoutMs:
      (callback
        ? RUNNER_DEFAULT_TASK_TIMEOUT_SECONDS
        : (timeoutSeconds ?? RUNNER_DEFAULT_TASK_TIMEOUT_SECONDS)) * 1000,
    ...(callback && { callback }),
  }));
}

function functionArns(bindings: TaskBinding[]): Record<string, string> {
  return Object.fromEntries(
    bindings.map(({ functionName }) => [`${functionName}FunctionArn`, localFunctionArn(functionName)]),
  );
}

function executionKey(workflow: string, deploymentId: string): string {
  return `${workflow}/${deploymentId}`;
}

/** The Context Object (`$$`) named as Step Functions names it, so `$$.Execution.Name` works embedded. */
function contextObject(workflow: WorkflowName, deploymentId: string) {
  const stateMachineName = `kiln-${workflow}`;
  return {
    Execution: {
      Id: `arn:aws:states:${LOCAL_ACCOUNT}:execution:${stateMachineName}:${deploymentId}`,
      Name: deploymentId,
    },
    StateMachine: {
      Id: `arn:aws:states:${LOCAL_ACCOUNT}:stateMachine:${stateMachineName}`,
      Name: stateMachineName,
    },
    // One callback Task per execution (the approval): its token names the execution.
    Task: { Token: `${stateMachineName}:${deploymentId}:task` },
  };
}

/**
 * The JSON boundary a Lambda invocation crosses: each call gets its own copy of the input, Dates
 * become ISO strings (aws-local-stepfunctions' own copy would turn them into `{}`), undefined null.
 */
function toJson(value: unknown): JsonValue {
  return value === undefined ? null : JSON.parse(JSON.stringify(value));
}

function outcomeOf(error: unknown): Outcome {
  if (error instanceof ExecutionAbortedError) return { status: 'ABORTED' };
  const cause = error instanceof ExecutionError ? error.cause : error;
  const { name, message } = cause instanceof Error ? cause : { name: 'Error', message: String(cause) };
  return { status: 'FAILED', error: { name, message } };
}
