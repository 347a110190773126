import type { TrafficWeights } from './blue-green.ts';
import type { StackMetrics } from './ports/traffic.ts';
import type { CanaryAnalysis } from './types.ts';

/**
 * The canary strategy's arithmetic: the split of one step, and the judgement of the new stack's own
 * traffic during its bake. Pure; the workflow tasks (deployment/canary.ts) apply and record them.
 */

/** A spec that asks for no analysis is judged by this: at most 1 % errors, judged from 20 requests on. */
export const DEFAULT_CANARY_ANALYSIS: CanaryAnalysis = { maxErrorRate: 0.01, minRequests: 20 };

/**
 * The new stack gets `weight`, the live stack the rest, every other registered stack 0 (as with
 * `allTrafficTo`, a stack left weighted by an interrupted deployment is reconciled away).
 */
export function canarySplit(
  newStackId: string,
  liveStackId: string,
  weight: number,
  registered: readonly string[],
): TrafficWeights {
  const weights: TrafficWeights = Object.fromEntries(registered.map((id) => [id, 0]));
  weights[liveStackId] = 100 - weight;
  weights[newStackId] = weight;
  return weights;
}

export interface CanaryJudgement {
  verdict: 'passed' | 'failed' | 'not-enough-data';
  /** The numbers, in words: `120 requests, 3 errors (2.5 % > 1 %), p99 41 ms`. */
  detail: string;
}

/** Judges a step by the new stack's own requests: error rate, then p99 where asked; too few requests judge nothing. */
export function judgeCanary(metrics: StackMetrics, analysis: CanaryAnalysis): CanaryJudgement {
  const rate = metrics.requests > 0 ? metrics.errors / metrics.requests : 0;
  const percent = (value: number) => `${Number((value * 100).toFixed(2))} %`;
  const errorsFailed = rate > analysis.maxErrorRate;
  const latencyFailed =
    analysis.maxP99Ms !== undefined && metrics.p99Ms !== undefined && metrics.p99Ms > analysis.maxP99Ms;
  const parts = [
    `${metrics.requests} requests`,
    `${metrics.errors} errors (${percent(rate)} ${errorsFailed ? '>' : '≤'} ${percent(analysis.maxErrorRate)})`,
    ...(metrics.p99Ms !== undefined
      ? [
          `p99 ${metrics.p99Ms} ms${analysis.maxP99Ms !== undefined ? ` (${latencyFailed ? '>' : '≤'} ${analysis.maxP99Ms} ms)` : ''}`,
        ]
      : []),
  ];
  if (metrics.requests < analysis.minRequests) {
    return {
      verdict: 'not-enough-data',
      detail: `${parts.join(', ')}; ${analysis.minRequests} needed`,
    };
  }
  return { verdict: errorsFailed || latencyFailed ? 'failed' : 'passed', detail: parts.join(', ') };
}
