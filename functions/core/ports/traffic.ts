import type { TrafficWeights } from '../blue-green.ts';
import type { TargetHealth } from '../health.ts';
import type { HealthCheck, Instance } from '../types.ts';

/** One stack's traffic over a period. */
export interface StackMetrics {
  requests: number;
  /** 5xx answers and connection failures. */
  errors: number;
  p99Ms?: number;
}

/** What the traffic layer holds for one environment, whatever Kiln's records say. */
export interface TrafficRegistrations {
  environment: string;
  /** Whether it has an entry point (a listener rule; an endpoint of the proxy). */
  endpoint: boolean;
  /** Stacks with targets behind it (a target group each; a registration in the proxy). */
  stackIds: string[];
}

/**
 * The header a request to a test endpoint carries to name the stack it is for: on AWS the test route is a
 * listener rule matching it on the environment's host; embedded, the test port asks for it too, so that a
 * hook written against one works against the other.
 */
export const TEST_STACK_HEADER = 'x-kiln-test-stack';

/**
 * Routes an environment's traffic to its stacks by weight. Embedded: a reverse proxy per environment;
 * AWS: an ALB listener forwarding to one target group per stack. Every method is idempotent.
 */
export interface Traffic {
  /** Ensures the environment has an entry point and returns its URL. */
  ensureEndpoint(environment: string): Promise<string>;
  /** Registers (or re-registers) a stack's instances as its targets, at weight 0 unless already weighted. */
  registerStack(
    environment: string,
    stackId: string,
    instances: Instance[],
    healthCheck: HealthCheck,
  ): Promise<void>;
  /** Sets the split; stacks not named keep their current weight. Weights of named stacks must exist. */
  setWeights(environment: string, weights: TrafficWeights): Promise<void>;
  getWeights(environment: string): Promise<TrafficWeights>;
  /** One health-probe round over the stack's targets. */
  probeHealth(environment: string, stackId: string): Promise<TargetHealth[]>;
  /**
   * Starts draining a stack and returns at once: no new request reaches it (weight 0; on AWS its targets
   * are deregistered with `drainSeconds` as the deregistration delay, past which the ALB cuts what is still
   * in flight) and its test route goes. The workflow waits, then asks `finishDrain`.
   */
  startDrain(environment: string, stackId: string, drainSeconds: number): Promise<void>;
  /**
   * Deregisters a stack (AWS: it leaves the rule and its target group is deleted) once it has no request in
   * flight (embedded: the proxy's count; AWS: no target still draining), or at once with `cutOff`, and
   * answers whether it is deregistered; false leaves it draining for a later call. Returns at once. A stack
   * not registered is deregistered already.
   */
  finishDrain(environment: string, stackId: string, options?: { cutOff?: boolean }): Promise<boolean>;
  /**
   * A URL that reaches only the given (registered) stack, whatever the weights, for the team's verification
   * hooks; each request must carry `TEST_STACK_HEADER: <stackId>`. Requests through it are not the
   * environment's activity: embedded they do not count in `lastRequestAt`; on AWS CloudWatch counts them
   * with the stack's target group, but they come during a deployment, which is activity anyway. It goes away with the stack's
   * registration (`finishDrain`) or the endpoint (`removeEndpoint`). Embedded: a port of the proxy of its
   * own; AWS: a rule of higher priority on the environment's host matching the header.
   */
  testEndpoint(environment: string, stackId: string): Promise<string>;
  /** Removes the environment's entry point and every remaining target registration. */
  removeEndpoint(environment: string): Promise<void>;
  /**
   * Every environment with an entry point or targets, found by Kiln's tags (AWS) or in the proxy
   * (embedded) rather than by Kiln's records: what the orphan reaper holds against the store.
   */
  listRegistrations(): Promise<TrafficRegistrations[]>;
  /**
   * Keeps the entry point of an environment put to sleep (no stack left behind it) and makes a request
   * to it wake the environment: embedded, the proxy holds the first requests while it wakes; on AWS, the
   * listener rule forwards to the waker function. Registering a stack with weight ends it.
   */
  parkEndpoint(environment: string): Promise<void>;
  /**
   * When a request last reached the environment's endpoint, as far as the traffic layer can tell
   * (embedded: the proxy's own count; on AWS: the ALB's per-target-group request count since `since`,
   * at CloudWatch's minute precision); undefined when none came since `since`. Read only for
   * environments due to sleep: activity never costs a write per request.
   */
  lastRequestAt(environment: string, since: string): Promise<string | undefined>;
  /**
   * What one stack's own traffic looked like since `since` (a canary step's judgement): requests, those
   * answered 5xx or failed to connect, and the 99th-percentile latency when known. Embedded: the proxy's
   * own measurements; on AWS: the ALB's per-target-group CloudWatch metrics (a minute or two late).
   */
  stackMetrics(environment: string, stackId: string, since: string): Promise<StackMetrics>;
}
