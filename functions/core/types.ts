import type { PushRef } from './actors.ts';
import type { SourceBinding, SourceHead } from './pushes.ts';

/**
 * Kiln's domain vocabulary (see DESIGN.md). Plain data: no behaviour, no I/O.
 * Timestamps are ISO-8601 strings so records round-trip through DynamoDB and JSON unchanged.
 */

export const TIERS = ['dev', 'staging', 'prod'] as const;
export type Tier = (typeof TIERS)[number];

/** How a stack is checked before it may take traffic. */
export interface HealthCheck {
  /** HTTP path probed on every instance; 200–399 counts as healthy. */
  path: string;
  /** Seconds between two probe rounds. */
  intervalSeconds: number;
  /** Consecutive all-instances-healthy rounds needed before the stack is called healthy. */
  healthyThreshold: number;
  /** Seconds one probe may take before it counts as failed. */
  timeoutSeconds: number;
  /** Seconds, from launch, within which the stack must become healthy or the deployment rolls back. */
  deadlineSeconds: number;
}

export interface BlueGreenStrategy {
  type: 'blue-green';
}

/** One canary step: the new stack's share of traffic, and how long it serves that share before it is judged. */
export interface CanaryStep {
  weight: number;
  bakeSeconds: number;
}

/** How a canary step is judged, on the new stack's own traffic during the step's bake. */
export interface CanaryAnalysis {
  /** Highest acceptable share (0–1) of 5xx answers and connection failures among its requests. */
  maxErrorRate: number;
  /** Highest acceptable 99th-percentile latency, when asked. */
  maxP99Ms?: number;
  /** Fewer requests than this is "not enough data": recorded, and the canary goes on. */
  minRequests: number;
}

/**
 * The new version earns its traffic step by step: weights rising to 100, each step judged by the new
 * stack's own traffic. The 100 % step is the cutover.
 */
export interface CanaryStrategy {
  type: 'canary';
  steps: CanaryStep[];
  analysis?: CanaryAnalysis;
}

export type Strategy = BlueGreenStrategy | CanaryStrategy;

/** The verification points of a deployment where a team's own function may stop it. */
export type HookName = 'beforeTraffic' | 'afterTraffic';

/** A team's verification function, invoked through Lambda's Invoke API (see core/hooks.ts). */
export interface Hook {
  /** A Lambda function name or ARN (`arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]`). */
  function: string;
  /** Seconds Kiln waits for its answer; past them the hook counts as failed ("timed out"). */
  timeoutSeconds: number;
}

/**
 * The team's checks of a new stack, each given a URL that reaches only that stack: `beforeTraffic` after
 * the health gate and before any traffic, `afterTraffic` after the cutover. A hook that fails, errs or
 * times out rolls the deployment back, with its reason in the record.
 */
export type Hooks = Partial<Record<HookName, Hook>>;

/** What to run. A new spec never modifies a stack: it makes a new one. */
export interface Spec {
  /**
   * Artifact to run. On AWS an AMI id, or an image family: the newest AMI tagged `kiln:artifact=<family>`
   * and `kiln:version=<version>` (so a pushed commit finds the image baked for it). Embedded: a folder
   * of artifacts (e.g. `sample-app`), started with `APP_VERSION=<version>`.
   */
  artifact: string;
  version: string;
  /** Number of instances the stack runs; serving capacity never drops below it during a cutover. */
  capacity: number;
  /** EC2 instance type; ignored by embedded compute. */
  instanceType?: string;
  /** Environment given to every instance (user data on EC2). May hold secrets: never logged. */
  env: Record<string, string>;
  healthCheck: HealthCheck;
  strategy: Strategy;
  /** Seconds a replaced stack keeps finishing in-flight requests before it is terminated. */
  drainSeconds: number;
  /** The team's verification functions; none: the health gate alone decides. */
  hooks?: Hooks;
}

export type EnvironmentStatus =
  | 'pending' // created, nothing live yet
  | 'deploying' // a deployment holds the lease
  | 'live' // serving its live stack
  | 'sleeping' // going to sleep, or asleep: no stack runs, the endpoint stays and wakes it
  | 'waking' // a wake deploys the spec that was live when it went to sleep
  | 'failed' // the last deployment failed with nothing to fall back to
  | 'deleting'
  | 'deleted';

/**
 * When an environment nobody uses goes to sleep (see core/idle.ts). Absent from an environment: its
 * tier's default (IDLE_DEFAULTS).
 */
export interface IdlePolicy {
  /** Minutes without activity after which it sleeps; `null`: never for being idle. */
  afterMinutes: number | null;
  /** An EventBridge Scheduler `cron(...)` expression: it sleeps at these times (office hours), unless snoozed. */
  sleepAt?: string;
  /** A `cron(...)` expression: asleep, it wakes at these times. */
  wakeAt?: string;
  /** IANA time zone `sleepAt` and `wakeAt` are read in; UTC by default. */
  timezone?: string;
}

/**
 * The next upkeep Kiln owes an environment, and when: sleep while it is live, wake (`wakeAt`) while
 * asleep, retire its warm standby stack when the rollback window ends (see core/rollback-window.ts).
 */
export interface UpkeepDue {
  action: 'sleep' | 'wake' | 'retire';
  at: string;
}

/**
 * The stack that was live before the current one, kept running at weight 0 until its rollback window
 * ends: a rollback until then switches traffic back to it at once, without provisioning.
 */
export interface Standby {
  stackId: string;
  /** When its window ends and it is decommissioned (by the upkeep sweep). */
  until: string;
}

/** A resource an environment depends on, declared so that the risk policy can score changes near it. */
export interface Resource {
  /** One of the kinds policies/risk.json scores, e.g. `datastore`. */
  kind: string;
  name: string;
  /** Counts the policy's criticalMultiplier times. */
  critical?: boolean;
}

/** One term of a risk score: what it counts, its points, and why (see core/risk.ts). */
export interface RiskTerm {
  term: string;
  points: number;
  why: string;
}

/** A deployment's score under the risk policy, made before anything is provisioned. */
export interface RiskAssessment {
  score: number;
  threshold: number;
  /** Above the threshold, unless the trigger is one the policy approves by itself. */
  needsApproval: boolean;
  policyVersion: string;
  terms: RiskTerm[];
}

/** Who holds an environment's deployment lease: the deployment (and so workflow execution) running. */
export interface Lease {
  holder: string;
  acquiredAt: string;
}

/** A named target owned by a team. `version` guards the desired state (If-Match); workflows update the observed fields only. */
export interface Environment {
  name: string;
  team: string;
  tier: Tier;
  /** Desired spec: what the latest accepted request asked for. */
  spec: Spec;
  /** Optimistic-lock version of the desired state; bumped by every accepted API write. */
  version: number;
  /** Monotonic request counter: every deployment (or teardown) takes the next generation. */
  generation: number;
  status: EnvironmentStatus;
  liveStackId?: string;
  liveGeneration?: number;
  liveSpec?: Spec;
  /** The branch it follows: a push there deploys the pushed commit. */
  source?: SourceBinding;
  /** The newest push it follows (observed): an older push is stale. */
  sourceHead?: SourceHead;
  /** The preview template that created it, for a preview environment. */
  template?: string;
  /** URL where the environment's traffic is served. */
  endpoint?: string;
  /**
   * The traffic split as Kiln last set it: stack id → weight (0–100). Kept on the environment, as an ALB
   * keeps the weights on its listener rule, so that one write moves traffic and names the live stack.
   */
  weights?: Record<string, number>;
  latestDeploymentId?: string;
  lease?: Lease;
  /** Its own idle policy; absent: the tier's default. */
  idle?: IdlePolicy;
  /** What it depends on, for the risk policy (a production data store weighs more than an instance). */
  resources?: Resource[];
  /** The latest of: a request through its endpoint (as last observed), a deployment, an API write, a push. */
  lastActivityAt?: string;
  /** When its live stack last went live (a deployment or a wake): `sleepAt` times count from then. */
  awakeSince?: string;
  /** Kept awake until then, whatever its idle policy says. */
  snoozedUntil?: string;
  /** When it next sleeps or wakes by itself; indexed (a sparse GSI), present only while something is due. */
  upkeepDue?: UpkeepDue;
  /**
   * Seconds a replaced stack stays warm after a cutover, for an instant rollback; absent: the tier's default
   * (ROLLBACK_WINDOW_DEFAULTS).
   */
  rollbackWindowSeconds?: number;
  /** The previous stack, kept warm while its rollback window lasts. */
  standby?: Standby;
  /** The spec that was live before the live one: what a rollback returns to. */
  previousSpec?: Spec;
  /** Asleep: the exact spec that was live, which a wake deploys again. */
  sleptSpec?: Spec;
  sleepingSince?: string;
  createdAt: string;
  updatedAt: string;
  deletedAt?: string;
}

export type StackStatus =
  | 'provisioning'
  | 'healthy'
  | 'live'
  /** Replaced, kept running at weight 0 while its environment's rollback window lasts. */
  | 'standby'
  | 'draining'
  | 'decommissioned'
  | 'failed';

export type InstanceState = 'pending' | 'running' | 'stopping' | 'terminated';

/** One compute instance of a stack, as the compute provider reports it. */
export interface Instance {
  id: string;
  /** Base URL traffic and health probes reach the instance at, e.g. `http://127.0.0.1:41235`. */
  address: string;
  state: InstanceState;
}

/** One immutable, versioned realisation of a spec. Only its status, weight and instances change. */
export interface Stack {
  environment: string;
  /** `<environment>-v<generation, 4 digits>`, e.g. `checkout-staging-v0007`. */
  stackId: string;
  generation: number;
  deploymentId: string;
  spec: Spec;
  status: StackStatus;
  instances: Instance[];
  statusReason?: string;
  createdAt: string;
  updatedAt: string;
}

/**
 * `sleep`: drains and decommissions every stack like a teardown, but keeps the endpoint and the spec.
 * `retire`: decommissions the warm standby stack once its rollback window has ended.
 */
export type DeploymentAction = 'deploy' | 'teardown' | 'sleep' | 'retire';
/** What caused a deployment (see core/actors.ts). */
export type DeploymentTrigger = 'api' | 'git-push' | 'schedule' | 'rollback' | 'wake' | 'drift-repair';
export type DeploymentStatus =
  | 'queued'
  /** Scored above the risk policy's threshold: waits, holding no lease, for an approver's answer. */
  | 'awaiting_approval'
  | 'running'
  | 'succeeded'
  | 'rolled_back'
  | 'failed'
  | 'superseded'
  | 'cancelled'
  /** An approver said no: nothing was provisioned. */
  | 'rejected'
  /** Nobody answered within the approval's time (24 hours): nothing was provisioned. */
  | 'expired';

/** A deployment's approval: asked for when its score is above the threshold, answered by an approver. */
export interface Approval {
  requestedAt: string;
  /** Step Functions' task token the workflow waits on; never shown by the API. */
  taskToken?: string;
  decision?: 'approved' | 'rejected';
  /** The approver (a person) and what they said. */
  by?: string;
  at?: string;
  comment?: string;
}

/** A named phase of a deployment with its timestamps, as recorded by the workflow's tasks. */
export interface DeploymentStep {
  name: string;
  startedAt: string;
  endedAt?: string;
  detail?: string;
}

export interface DeploymentError {
  name: string;
  message: string;
}

/** One run of the deploy (or teardown) workflow toward one generation of an environment. */
export interface Deployment {
  id: string;
  environment: string;
  action: DeploymentAction;
  generation: number;
  trigger: DeploymentTrigger;
  /** Who caused it: a person's IAM principal, a pusher, a schedule's name, or `kiln`. */
  actor: string;
  /** The push that caused it (trigger `git-push`). */
  push?: PushRef;
  /** The schedule that caused it (trigger `schedule`). */
  schedule?: { name: string; scheduledAt: string };
  reason?: string;
  status: DeploymentStatus;
  /** Spec deployed (absent for a teardown). */
  spec?: Spec;
  /** Its score under the risk policy (deploys only), made when it was requested. */
  risk?: RiskAssessment;
  /** Asked for when the score is above the threshold. */
  approval?: Approval;
  /** It passed the freezes that covered its environment by breaking the glass, with a reason. */
  breakGlass?: { reason: string; freezes: { id: string; reason: string; end: string }[] };
  /** Held by freezes (hold mode) before it took the lease: since when, by which, until when at least. */
  hold?: { since: string; freezes: string[]; until: string };
  /** Live stack when the deployment took the lease; the one traffic returns to on rollback. */
  fromStackId?: string;
  /** Stack this deployment creates. */
  toStackId?: string;
  requestedAt: string;
  startedAt?: string;
  endedAt?: string;
  error?: DeploymentError;
  /** Problems that did not change the outcome, e.g. the old stack could not be cleaned up. */
  warnings?: string[];
  /** The phases it went through, ordered by start; each recorded once, when it ended. */
  steps?: DeploymentStep[];
  /**
   * Set when someone asked to cancel. The workflow checks it at every phase boundary up to the cutover:
   * a queued deployment ends `cancelled`, a running one rolls back and ends `cancelled`; once the new
   * stack is live the request comes too late and the deployment completes (with a warning).
   */
  cancelRequest?: { at: string; by: string };
}

/**
 * Append-only record of a decision: who (`actor`, `trigger`), what (`action`, `detail`), when (`at`),
 * why (`reason`, where there is one). What a caller hands the store; the store chains it (AuditLink).
 */
export interface AuditEvent {
  /** Stable for one decision (e.g. `<deploymentId>:deploy.succeeded`): appending it again changes nothing. */
  id: string;
  environment: string;
  at: string;
  actor: string;
  trigger: DeploymentTrigger;
  action: string;
  reason?: string;
  /** JSON values only: the event's hash is computed over its JSON form. */
  detail?: Record<string, unknown>;
}

/** An event's place in its environment's hash chain (see core/audit.ts). */
export interface AuditLink {
  /** 1 for an environment's first chained event, then one more per event, without gaps. */
  sequence: number;
  /** The hash of the event before it in the chain; GENESIS_HASH for the first. */
  previousHash: string;
  /** SHA-256 (hex) of the event's canonical JSON (RFC 8785), this field left out. */
  hash: string;
}

export type ChainedAuditEvent = AuditEvent & AuditLink;

/** An event as the trail lists it: chained, or (no link) recorded before the chain existed. */
export type RecordedAuditEvent = AuditEvent & Partial<AuditLink>;
