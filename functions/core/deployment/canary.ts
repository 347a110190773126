import { type CanaryJudgement, canarySplit, DEFAULT_CANARY_ANALYSIS, judgeCanary } from '../canary.ts';
import { CanaryAnalysisFailedError, InvalidTransitionError } from '../errors.ts';
import type { TrafficPorts } from '../ports/index.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import type { CanaryStrategy } from '../types.ts';
import { assertNotCancelled } from './cancel.ts';
import { loadTask, newStackIdOf, recordStep, requireStack } from './context.ts';
import { requireSpec } from './provision.ts';

/** Where a canary stands: the step it is at, and what the workflow does next (bake and judge, or cut over). */
export interface CanaryPosition {
  /** Index into the strategy's steps. */
  step: number;
  weight: number;
  bakeSeconds: number;
  /** The step is the 100 % one (or there is no live stack to share traffic with): CutOver takes it. */
  cutover: boolean;
  /** When the step's split was applied: its judgement reads the new stack's traffic from then on. */
  since: string;
}

/**
 * ShiftCanary: gives the new (healthy) stack the step's share of traffic and the live stack the rest, in
 * one write of the environment's split; the live stack stays the live one until the 100 % step, which
 * CutOver takes. A rerun applies the same split again. Checked for a cancel first, as every step before
 * the cutover is.
 */
export async function shiftCanary(
  ports: TrafficPorts,
  input: WorkflowInput & { step: number },
): Promise<CanaryPosition> {
  const { store, traffic } = ports;
  const context = await loadTask(ports, input);
  const { deployment, environment } = context;
  const strategy = canaryOf(requireSpec(deployment).strategy);
  const step = strategy.steps[input.step];
  if (!step) throw new InvalidTransitionError(`canary ${deployment.id} has no step ${input.step + 1}`);
  const position = { step: input.step, ...step, since: context.startedAt };
  const live = environment.liveStackId;
  const newStackId = newStackIdOf(deployment);
  if (!context.acting || step.weight === 100 || !live || live === newStackId) {
    return { ...position, cutover: true };
  }
  assertNotCancelled(deployment);
  const stack = await requireStack(ports, input.environment, newStackId);
  if (stack.status !== 'healthy') {
    throw new InvalidTransitionError(
      `stack ${stack.stackId} is ${stack.status}: only a healthy stack takes traffic`,
    );
  }
  const weights = canarySplit(
    newStackId,
    live,
    step.weight,
    Object.keys(await traffic.getWeights(input.environment)),
  );
  await traffic.setWeights(input.environment, weights);
  await store.updateObservedState(input.environment, { weights });
  await recordStep(ports, context, {
    name: `Canary step ${input.step + 1}: ${step.weight} %`,
    detail: `${newStackId}=${step.weight}, ${live}=${100 - step.weight}; baking ${step.bakeSeconds} s`,
  });
  return { ...position, cutover: false };
}

/**
 * JudgeCanary, after the step's bake: the new stack's own requests since the split was applied, judged
 * by the strategy's analysis. Recorded with its numbers either way; a failed judgement throws
 * CanaryAnalysisFailedError, which the workflow's rollback catches (all traffic back to the live stack,
 * the new stack removed, outcome `rolled_back` with these numbers). Passed, or not enough data to judge:
 * on to the next step.
 */
export async function judgeCanaryStep(
  ports: TrafficPorts,
  input: WorkflowInput & { canary: CanaryPosition },
): Promise<{ step: number }> {
  const context = await loadTask(ports, input);
  const { deployment } = context;
  const next = { step: input.canary.step + 1 };
  if (!context.acting) return next;
  const analysis = canaryOf(requireSpec(deployment).strategy).analysis ?? DEFAULT_CANARY_ANALYSIS;
  const newStackId = newStackIdOf(deployment);
  const metrics = await ports.traffic.stackMetrics(input.environment, newStackId, input.canary.since);
  const judgement = judgeCanary(metrics, analysis);
  const name = `Judge step ${input.canary.step + 1}: ${input.canary.weight} %`;
  await recordStep(ports, context, {
    name,
    detail: `${VERDICT_WORDS[judgement.verdict]}: ${judgement.detail}`,
  });
  if (judgement.verdict === 'failed') {
    throw new CanaryAnalysisFailedError(
      `canary step ${input.canary.step + 1} (${input.canary.weight} %) failed its analysis: ${judgement.detail}`,
    );
  }
  return next;
}

/** How a judgement reads in the deployment's steps. */
const VERDICT_WORDS: Record<CanaryJudgement['verdict'], string> = {
  passed: 'passed',
  failed: 'failed',
  'not-enough-data': 'not enough data',
};

function canaryOf(strategy: { type: string }): CanaryStrategy {
  if (strategy.type !== 'canary') throw new InvalidTransitionError(`not a canary: ${strategy.type}`);
  return strategy as CanaryStrategy;
}
