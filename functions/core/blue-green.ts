/** One traffic split of an environment: stack id → weight (0–100, summing to 100 or, with nothing to serve, 0). */
export type TrafficWeights = Record<string, number>;

/**
 * All traffic to one stack: it gets 100 and every other registered stack 0. Naming every registered
 * stack (not only the two a deployment knows) reconciles whatever the split was, so a stack left
 * weighted by an interrupted or abandoned deployment can never keep serving beside the live one.
 */
export function allTrafficTo(stackId: string | undefined, registered: readonly string[]): TrafficWeights {
  const weights: TrafficWeights = Object.fromEntries(registered.map((id) => [id, 0]));
  if (stackId !== undefined) weights[stackId] = 100;
  return weights;
}
