/** One traffic split of an environment: stack id → weight (0–100, summing to 100). */
export type TrafficWeights = Record<string, number>;

/**
 * Blue/green cutover: once the new stack is healthy, one switch sends all traffic to it.
 * The old stack keeps weight 0 (still registered, still running) so it can drain and so a
 * failure before `MarkLive` can send traffic straight back.
 */
export function blueGreenCutover(newStackId: string, oldStackId: string | undefined): TrafficWeights {
  return oldStackId ? { [newStackId]: 100, [oldStackId]: 0 } : { [newStackId]: 100 };
}

/** Compensation: traffic back to the old stack (or to nothing when there was none). */
export function restoreWeights(newStackId: string, oldStackId: string | undefined): TrafficWeights {
  return oldStackId ? { [oldStackId]: 100, [newStackId]: 0 } : { [newStackId]: 0 };
}
