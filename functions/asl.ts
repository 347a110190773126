/**
 * Pure helpers over Amazon States Language definitions, shared by the CDK app and the embedded runtime:
 * the embedded runner uses them to wire every Task state to a Kiln handler, and tests (unit,
 * integration, CDK) use them to check the real `state-machines/*.asl.json` files against the
 * conventions both runtimes rely on.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** A state machine (top level, a Map's Iterator/ItemProcessor, or a Parallel branch), loosely typed. */
export interface AslDefinition {
  StartAt: string;
  States: Record<string, AslState>;
  [field: string]: unknown;
}

export interface AslState {
  Type: string;
  Resource?: string;
  TimeoutSeconds?: number;
  Iterator?: AslDefinition;
  ItemProcessor?: AslDefinition;
  Branches?: AslDefinition[];
  [field: string]: unknown;
}

export interface TaskStateRef {
  stateName: string;
  /** The function it calls: its Resource, or a callback Task's `Parameters.FunctionName`. */
  resource: string;
  /** The state's own `TimeoutSeconds`, when it sets one. */
  timeoutSeconds?: number;
  /**
   * A callback Task (`.waitForTaskToken`): the function is handed `$$.Task.Token` and returns at once;
   * the state waits, no Lambda running, until someone sends the token back (SendTaskSuccess/Failure).
   */
  callback?: true;
}

/** The one service integration Kiln's workflows use: invoke a function with a task token, then wait. */
export const CALLBACK_RESOURCE = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/** `${<Name>FunctionArn}`: the direct Lambda ARN form, so a Task's output is the handler's return value. */
const FUNCTION_REFERENCE = /^\$\{([A-Za-z][A-Za-z0-9]*)FunctionArn\}$/;
const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Reads an ASL file, failing early with the path when it is not a state machine definition. */
export function loadDefinition(path: string): AslDefinition {
  const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!isDefinition(parsed)) {
    throw new Error(`${path} is not a state machine definition: it needs "StartAt" and "States"`);
  }
  return parsed;
}

function isDefinition(value: unknown): value is AslDefinition {
  if (typeof value !== 'object' || value === null) return false;
  const { StartAt, States } = value as Record<string, unknown>;
  return typeof StartAt === 'string' && typeof States === 'object' && States !== null;
}

/** Visits every state, including those nested in Map and Parallel states, depth first. */
export function forEachState(
  definition: AslDefinition,
  visit: (stateName: string, state: AslState) => void,
): void {
  for (const [stateName, state] of Object.entries(definition.States)) {
    visit(stateName, state);
    for (const nested of nestedDefinitions(state)) forEachState(nested, visit);
  }
}

function nestedDefinitions(state: AslState): AslDefinition[] {
  const nested = [state.Iterator, state.ItemProcessor, ...(state.Branches ?? [])];
  return nested.filter((definition) => definition !== undefined);
}

/** Every Task state at any depth: the runner must give each one a local handler. */
export function taskStates(definition: AslDefinition): TaskStateRef[] {
  const tasks: TaskStateRef[] = [];
  forEachState(definition, (stateName, state) => {
    if (state.Type !== 'Task') return;
    const callback = state.Resource === CALLBACK_RESOURCE;
    const parameters = state.Parameters as { FunctionName?: unknown } | undefined;
    tasks.push({
      stateName,
      resource: String(callback ? parameters?.FunctionName : state.Resource),
      ...(typeof state.TimeoutSeconds === 'number' && { timeoutSeconds: state.TimeoutSeconds }),
      ...(callback && { callback }),
    });
  });
  return tasks;
}

/** `${AcquireLeaseFunctionArn}` → `AcquireLease`, the handler module `functions/handlers/tasks/AcquireLease.ts`. */
export function functionNameOf(resource: string): string {
  const match = FUNCTION_REFERENCE.exec(resource);
  if (!match) {
    throw new Error(
      `Task resource "${resource}" is not a Kiln function reference: write "\${<Name>FunctionArn}", where <Name> is a module in functions/handlers/tasks/`,
    );
  }
  return match[1];
}

/**
 * Replaces every `${Name}` in string values (never in keys) from `substitutions`, as CDK's
 * `definitionSubstitutions` does. Returns a copy; throws naming every placeholder left unresolved,
 * because a literal `${...}` reaching a runner fails far from its cause.
 */
export function substitute<T>(value: T, substitutions: Record<string, string>): T {
  const unresolved = new Set<string>();
  const replaced = replacePlaceholders(value, substitutions, unresolved);
  if (unresolved.size > 0) {
    throw new Error(`Unresolved substitution(s): ${[...unresolved].sort().join(', ')}`);
  }
  return replaced as T;
}

function replacePlaceholders(
  value: unknown,
  substitutions: Record<string, string>,
  unresolved: Set<string>,
): unknown {
  if (typeof value === 'string') {
    return value.replace(PLACEHOLDER, (placeholder, name: string) => {
      if (Object.hasOwn(substitutions, name)) return substitutions[name];
      unresolved.add(name);
      return placeholder;
    });
  }
  if (Array.isArray(value)) return value.map((item) => replacePlaceholders(item, substitutions, unresolved));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, replacePlaceholders(item, substitutions, unresolved)]),
    );
  }
  return value;
}

type AslValidator = (definition: unknown) => { isValid: boolean; errorsText: (separator: string) => string };

/** asl-validator ships CommonJS without type definitions. */
const aslValidator = createRequire(import.meta.url)('asl-validator') as AslValidator;

/**
 * Features that Step Functions supports but aws-local-stepfunctions ignores or rejects: an ASL file
 * using them would behave differently embedded than in the cloud, so it is refused instead.
 */
const UNSUPPORTED_FIELDS: Record<string, string> = {
  Assign: 'variables (Assign) are not supported by the embedded runner',
  ItemReader: 'distributed Map (ItemReader) is not supported by the embedded runner',
  ItemBatcher: 'distributed Map (ItemBatcher) is not supported by the embedded runner',
  ResultWriter: 'distributed Map (ResultWriter) is not supported by the embedded runner',
  ToleratedFailurePercentage: 'ToleratedFailurePercentage is not supported by the embedded runner',
  ToleratedFailurePercentagePath: 'ToleratedFailurePercentagePath is not supported by the embedded runner',
  ToleratedFailureCount: 'ToleratedFailureCount is not supported by the embedded runner',
  ToleratedFailureCountPath: 'ToleratedFailureCountPath is not supported by the embedded runner',
};

const JSONATA_IGNORED = 'QueryLanguage JSONata is silently ignored by the embedded runner: use JSONPath';

/**
 * Problems with a (substituted) definition: the asl-validator schema and transition checks, plus
 * every use of a feature the embedded runner does not honour. Empty means valid for both runtimes.
 */
export function checkDefinition(definition: AslDefinition): string[] {
  // asl-validator writes a default QueryLanguage into every state: give it a copy.
  const validation = aslValidator(structuredClone(definition));
  const problems = validation.isValid ? [] : validation.errorsText('\n').split('\n');
  if (definition.QueryLanguage === 'JSONata') problems.push(JSONATA_IGNORED);
  forEachState(definition, (stateName, state) => {
    problems.push(...unsupportedFeatures(state).map((problem) => `State "${stateName}": ${problem}`));
  });
  return problems;
}

function unsupportedFeatures(state: AslState): string[] {
  const problems = Object.keys(state)
    .filter((field) => Object.hasOwn(UNSUPPORTED_FIELDS, field))
    .map((field) => UNSUPPORTED_FIELDS[field]);
  if (state.QueryLanguage === 'JSONata') problems.push(JSONATA_IGNORED);
  const processorConfig = state.ItemProcessor?.ProcessorConfig as { Mode?: string } | undefined;
  if (processorConfig?.Mode === 'DISTRIBUTED') {
    problems.push('distributed Map is not supported by the embedded runner: use Mode INLINE');
  }
  if (typeof state.CausePath === 'string' && state.CausePath.startsWith('States.')) {
    problems.push('intrinsic functions in CausePath are not supported by the embedded runner');
  }
  return problems;
}
