/**
 * The embedded Step Functions: runs the real `state-machines/*.asl.json` in-process with
 * aws-local-stepfunctions, every Task state dispatched to the Kiln handler module its
 * `${<Name>FunctionArn}` resource names. Running executions are recorded on disk so that a restarted
 * `npm start` runs them again from the beginning (every task is idempotent, so that is safe).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import {
  ExecutionAbortedError,
  ExecutionError,
  StateMachine,
  type StateMachineDefinition,
} from 'aws-local-stepfunctions';
import type { WorkflowInput, WorkflowName, Workflows } from '../../core/ports/workflows.ts';
import {
  type AslDefinition,
  checkDefinition,
  functionNameOf,
  loadDefinition,
  substitute,
  taskStates,
} from './asl.ts';
import { localLambdaContext } from './lambda-context.ts';
import { JsonStateFile } from './state-file.ts';

/** A Lambda handler as Kiln's task modules export it (middy-wrapped). */
export type TaskHandler = (event: unknown, context: Context) => Promise<unknown>;

export type ExecutionStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'ABORTED';

export interface ExecutionEnd {
  workflow: WorkflowName;
  deploymentId: string;
  status: Exclude<ExecutionStatus, 'RUNNING'>;
  /** For FAILED: the error that failed the execution (a handler's error, a Fail state, a timeout). */
  error?: { name: string; message: string };
}

export interface LocalStepFunctionsOptions {
  /** Every `<workflow>.asl.json` in it is loaded. */
  stateMachinesDir: string;
  /** Function name (`AcquireLease`) → its handler. Every Task state of every definition needs one. */
  tasks: Record<string, TaskHandler>;
  /** Where running executions are recorded so the next process resumes them; unset: not recorded. */
  executionsFile?: string;
  onExecutionEnd?: (end: ExecutionEnd) => void;
  log?: (message: string, detail?: object) => void;
}

/** An execution as the executions file records it: enough to start it again. */
export interface RecordedExecution {
  workflow: WorkflowName;
  input: WorkflowInput;
  startedAt: string;
}

interface ExecutionsDocument {
  running: RecordedExecution[];
}

type JsonValue = Parameters<StateMachine['run']>[0];

interface TaskBinding {
  stateName: string;
  functionName: string;
  handler: TaskHandler;
  timeoutMs: number;
}

interface LoadedWorkflow {
  machine: StateMachine;
  tasks: TaskBinding[];
}

type Outcome = Pick<ExecutionEnd, 'status' | 'error'>;

const ASL_SUFFIX = '.asl.json';
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
  readonly #file: JsonStateFile<ExecutionsDocument> | undefined;
  readonly #onExecutionEnd: (end: ExecutionEnd) => void;
  readonly #log: (message: string, detail?: object) => void;
  /** Left running by the previous process and not resumed yet: kept in the file until they are. */
  #interrupted: RecordedExecution[];
  #recording: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(
    workflows: Map<string, LoadedWorkflow>,
    file: JsonStateFile<ExecutionsDocument> | undefined,
    interrupted: RecordedExecution[],
    options: LocalStepFunctionsOptions,
  ) {
    this.#workflows = workflows;
    this.#file = file;
    this.#interrupted = interrupted;
    this.#onExecutionEnd = options.onExecutionEnd ?? (() => {});
    this.#log = options.log ?? (() => {});
  }

  /**
   * Loads and checks every definition and reads what the previous process left running. Throws when a
   * Task's function has no handler: without one aws-local-stepfunctions would call real AWS Lambda.
   */
  static async create(options: LocalStepFunctionsOptions): Promise<LocalStepFunctions> {
    const workflows = loadWorkflows(options.stateMachinesDir, options.tasks);
    const file = options.executionsFile
      ? new JsonStateFile<ExecutionsDocument>(options.executionsFile)
      : undefined;
    const interrupted = (await file?.read())?.running ?? [];
    return new LocalStepFunctions(workflows, file, interrupted, options);
  }

  /** Starts the execution named by the deployment id in the background; a known name is a no-op. */
  async start(workflow: WorkflowName, input: WorkflowInput): Promise<void> {
    if (this.#closed) throw new Error('The embedded Step Functions are shut down');
    const loaded = this.#workflows.get(workflow);
    if (!loaded) throw new Error(`No state machine for workflow "${workflow}"`);
    const key = executionKey(workflow, input.deploymentId);
    if (this.#executions.has(key)) return;
    const execution = new Execution(workflow, input);
    // Registered before it runs: the first handler is called synchronously by the run.
    this.#executions.set(key, execution);
    this.#log(`${workflow} ${input.deploymentId} started`, { workflow, ...input });
    execution.run(loaded, (outcome) => this.#end(execution, outcome));
    await this.#recordRunning();
  }

  async isRunning(workflow: WorkflowName, deploymentId: string): Promise<boolean> {
    return this.#executions.get(executionKey(workflow, deploymentId))?.status === 'RUNNING';
  }

  /** Starts again, from the beginning, every execution the previous process left running. */
  async resumeInterrupted(): Promise<RecordedExecution[]> {
    const resumed: RecordedExecution[] = [];
    for (const recorded of this.#interrupted) {
      const { workflow, input } = recorded;
      if (this.#workflows.has(workflow)) {
        await this.start(workflow, input);
        resumed.push(recorded);
      } else {
        this.#log(`cannot resume ${workflow} ${input.deploymentId}: no state machine`);
      }
    }
    this.#interrupted = [];
    return resumed;
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
   * Aborts every running execution and waits for the task calls in flight, but leaves the executions
   * recorded as running so that the next process resumes them.
   */
  async shutdown(): Promise<void> {
    this.#closed = true;
    const executions = [...this.#executions.values()];
    for (const execution of executions) if (execution.status === 'RUNNING') execution.abort();
    await Promise.all(executions.map(({ done }) => done));
    await this.#recording;
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
        ...outcome,
      });
      await this.#recordRunning();
      this.#onExecutionEnd({ workflow, deploymentId: input.deploymentId, ...outcome });
    } catch (error) {
      this.#log(`${workflow} ${input.deploymentId}: could not handle its end`, { error: String(error) });
    }
  }

  /** Rewrites the executions file with what would need resuming if the process stopped now. */
  #recordRunning(): Promise<void> {
    if (!this.#file || this.#closed) return Promise.resolve();
    const recording = this.#file.write({ running: this.#toResume() });
    this.#recording = recording.catch(() => undefined);
    return recording;
  }

  #toResume(): RecordedExecution[] {
    const running = this.#running().map(({ workflow, input, startedAt }) => ({ workflow, input, startedAt }));
    const notResumed = this.#interrupted.filter(
      ({ workflow, input }) => !this.#executions.has(executionKey(workflow, input.deploymentId)),
    );
    return [...running, ...notResumed];
  }
}

/** One run of a workflow in this process. */
class Execution {
  readonly workflow: WorkflowName;
  readonly input: WorkflowInput;
  readonly startedAt = new Date().toISOString();
  status: ExecutionStatus = 'RUNNING';
  /** Settles after the run, every task call it made, and its `onEnd`. Never rejects. */
  done: Promise<void> = Promise.resolve();
  #abortRun: () => void = () => {};
  readonly #inFlight = new Set<Promise<unknown>>();
  #aborted = false;

  constructor(workflow: WorkflowName, input: WorkflowInput) {
    this.workflow = workflow;
    this.input = input;
  }

  run(loaded: LoadedWorkflow, onEnd: (outcome: Outcome) => Promise<void>): void {
    const run = loaded.machine.run(toJson(this.input), {
      overrides: { taskResourceLocalHandlers: this.#localHandlers(loaded.tasks) },
      context: contextObject(this.workflow, this.input.deploymentId),
    });
    this.#abortRun = run.abort;
    this.done = this.#outcome(run.result).then(onEnd);
  }

  abort(): void {
    this.#aborted = true;
    this.#abortRun();
  }

  async #outcome(result: Promise<unknown>): Promise<Outcome> {
    const outcome = await result.then((): Outcome => ({ status: 'SUCCEEDED' }), outcomeOf);
    // A Task timeout or an abort settles the run while a handler still works: let it finish.
    await Promise.allSettled(this.#inFlight);
    return outcome;
  }

  /** aws-local-stepfunctions overrides Task states by state name, at any depth. */
  #localHandlers(tasks: TaskBinding[]): Record<string, (input: JsonValue) => Promise<JsonValue>> {
    return Object.fromEntries(
      tasks.map((task) => [task.stateName, (input: JsonValue) => this.#call(task, input)]),
    );
  }

  /** Calls a handler as Lambda does: JSON in, JSON out, a fresh context; its errors keep their name. */
  async #call(task: TaskBinding, input: JsonValue): Promise<JsonValue> {
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
    // checkDefinition ran the newer asl-validator: validating again would cost ~0.3 s per workflow.
    const machine = new StateMachine(definition as unknown as StateMachineDefinition, {
      validationOptions: { noValidate: true },
    });
    return { machine, tasks: bindings };
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
  return refs.map(({ stateName, functionName, timeoutSeconds }) => ({
    stateName,
    functionName,
    handler: tasks[functionName],
    timeoutMs: (timeoutSeconds ?? RUNNER_DEFAULT_TASK_TIMEOUT_SECONDS) * 1000,
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

async function within(promise: Promise<unknown>, timeoutMs: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), Math.max(0, timeoutMs));
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
