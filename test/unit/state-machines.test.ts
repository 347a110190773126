import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import {
  checkDefinition,
  functionNameOf,
  loadDefinition,
  substitute,
  taskStates,
} from '../../functions/asl.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Waiting belongs to Step Functions (Wait states between an act and its checks), not to Lambda: a task
 * does its work and returns, in a few seconds at most.
 */
const TASK_TIMEOUT_BOUND_SECONDS = 30;
/** The tasks that may run longer, by function, and why. */
const LONG_TASKS: Record<string, string> = {
  VerifyStack:
    "invokes the team's hook function synchronously (Lambda Invoke) for up to the hook's timeoutSeconds (840 s). " +
    'Step Functions could invoke it itself only through the lambda:invoke integration (the function is named by the ' +
    'spec), which aws-local-stepfunctions does not run (it invokes fixed function ARNs only): one task serves both modes',
  CheckHealth:
    "one probe round: embedded, a probe may take the spec's health timeoutSeconds (up to 120 s) to answer, as an ALB's would",
};
const files = readdirSync(join(ROOT, 'state-machines')).filter((f) => f.endsWith('.asl.json'));

/** The real workflows, checked as Step Functions and the embedded runner will see them. */
describe('state-machines/*.asl.json', () => {
  it('has the deploy and teardown workflows', () => {
    assert.deepEqual(files.sort(), ['deploy.asl.json', 'teardown.asl.json']);
  });

  for (const file of files) {
    const definition = loadDefinition(join(ROOT, 'state-machines', file));
    const tasks = taskStates(definition);

    it(`${file} is valid ASL (asl-validator) using only what the embedded runner supports`, () => {
      const arns = Object.fromEntries(
        tasks.map((t) => [
          `${functionNameOf(t.resource)}FunctionArn`,
          `arn:aws:lambda:eu-west-1:123456789012:function:f`,
        ]),
      );
      assert.deepEqual(checkDefinition(substitute(definition, arns)), []);
    });

    it(`${file}: every Task calls a handler module in functions/handlers/tasks/ and has a timeout`, () => {
      for (const task of tasks) {
        const module = join(ROOT, 'functions/handlers/tasks', `${functionNameOf(task.resource)}.ts`);
        assert.ok(existsSync(module), `${task.stateName} → ${module}`);
        assert.ok(task.timeoutSeconds, `${task.stateName} sets TimeoutSeconds`);
      }
    });

    it(`${file}: no Task waits in Lambda: every timeout is at most ${TASK_TIMEOUT_BOUND_SECONDS} s, but the named exceptions'`, () => {
      for (const task of tasks) {
        const exception = LONG_TASKS[functionNameOf(task.resource)];
        // A callback Task's timeout is Step Functions waiting for its token's answer: no Lambda runs.
        if (exception || task.callback) continue;
        assert.ok(
          (task.timeoutSeconds ?? Number.POSITIVE_INFINITY) <= TASK_TIMEOUT_BOUND_SECONDS,
          `${task.stateName}: ${task.timeoutSeconds} s; a wait belongs in a Wait state (act → Wait → check)`,
        );
      }
    });

    it(`${file}: every Task retries Lambda's transient errors and every failure path ends in FinishDeployment`, () => {
      for (const task of tasks) {
        const state = findState(definition.States, task.stateName) as { Retry?: { ErrorEquals: string[] }[] };
        assert.ok(
          state.Retry?.some((r) => r.ErrorEquals.includes('Lambda.ServiceException')),
          `${task.stateName} retries Lambda.ServiceException`,
        );
      }
      const catches = Object.values(definition.States).flatMap((s) =>
        ((s as { Catch?: { Next: string }[] }).Catch ?? []).map((c) => c.Next),
      );
      assert.ok(catches.length > 0);
      for (const next of catches) {
        // RevertCutover: the compensation of a failed afterTraffic hook, which ends in FinishDeployment too.
        assert.ok(
          ['FinishDeployment', 'RestoreTraffic', 'RevertCutover'].includes(next),
          `a Catch goes to ${next}`,
        );
      }
    });
  }
});

function findState(states: Record<string, unknown>, name: string): unknown {
  for (const [key, state] of Object.entries(states)) {
    if (key === name) return state;
    const nested = (state as { ItemProcessor?: { States: Record<string, unknown> } }).ItemProcessor?.States;
    const found = nested && findState(nested, name);
    if (found) return found;
  }
  return undefined;
}
