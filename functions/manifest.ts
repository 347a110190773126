import type { PortName } from './core/ports/index.ts';
import type { EventPattern } from './event-patterns.ts';
import { type ConfigName, PORT_CONFIG } from './shared/config.ts';

/**
 * Every entry point of Kiln, once: what triggers it, which ports it uses (and so which clients its
 * bundle carries and which configuration its function gets), and what it may touch. The CDK app (its
 * functions, routes, state-machine bindings, queues, rules, schedules, environments and IAM grants),
 * the embedded runtime (gateway, ASL runner, queues, bus, scheduler), the bundle bench and the tests all
 * derive from this list; nothing else lists handlers. Adding an entry point is one entry here and its
 * module under functions/handlers/.
 */

export type { EventPattern };

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** What invokes an entry point. */
export type Trigger =
  /**
   * A REST API route (API Gateway proxy integration). `iam`: SigV4, the caller's team from its role;
   * `none`: open to the internet (a webhook, which authenticates its caller itself by signature).
   */
  | { type: 'http'; method: HttpMethod; path: string; auth: 'iam' | 'none' }
  /** A Task state of a workflow: which states call it is read from state-machines/*.asl.json. */
  | { type: 'task' }
  /** Batches from a queue of QUEUES (event source mapping, partial batch failures reported). */
  | { type: 'queue'; queue: string; batchSize: number; maxBatchingWindowSeconds?: number }
  /** Events matching `pattern` on Kiln's bus or the account's default bus. */
  | { type: 'rule'; rule: string; bus: 'kiln' | 'default'; pattern: EventPattern }
  /** An EventBridge Scheduler schedule (`rate(...)` or `cron(...)`, in `timezone`). */
  | { type: 'schedule'; schedule: string; expression: string; timezone?: string }
  /**
   * An ALB Lambda target: the target group the listener rules of sleeping environments forward to.
   * Embedded, a parked endpoint invokes it through the gateway (`POST /_targets/<name>`, the ALB's event).
   */
  | { type: 'target' };

/**
 * A composition root under functions/shared/roots/: the port set a handler's core function takes. The
 * handler module imports exactly this root (a test checks its bundle).
 */
export type RootName =
  | 'store'
  | 'request'
  | 'announce'
  | 'traffic'
  | 'stack'
  | 'ingest'
  | 'enqueue'
  | 'upkeep'
  | 'verify'
  | 'clock';

export const ROOT_PORTS: Readonly<Record<RootName, readonly PortName[]>> = {
  store: ['store'],
  request: ['store', 'workflows', 'events'],
  announce: ['store', 'events'],
  traffic: ['store', 'traffic'],
  stack: ['store', 'compute', 'traffic'],
  ingest: ['pushQueue', 'secrets'],
  enqueue: ['pushQueue'],
  upkeep: ['store', 'workflows', 'events', 'traffic'],
  verify: ['store', 'traffic', 'hooks'],
  clock: [],
};

/** What an entry point may do through its ports, beyond its own logs and traces: its IAM grants. */
export interface Access {
  /**
   * `none`: the function never touches the table (the webhook: it only checks and queues; the OpenAPI
   * document: it answers from its bundle).
   */
  table: 'none' | 'read' | 'readWrite';
  /** `start`: starts deploy and teardown executions; `observe`: describes them (lease reclaim). */
  workflows?: 'start' | 'observe' | 'respond';
  /** Launching a stack's instances, or terminating them. */
  compute?: 'launch' | 'terminate';
  /**
   * `read`: rules, target groups and target health; `requests`: those and the ALB's request counts
   * (CloudWatch: an environment's activity, a canary's metrics); `remove`: draining and deleting rules and
   * target groups Kiln made (creating nothing); `manage`: creating, weighting and removing them.
   */
  traffic?: 'read' | 'requests' | 'remove' | 'manage';
  /** Puts lifecycle events on Kiln's bus. */
  events?: 'publish';
  /** Sends accepted pushes to the push queue. */
  pushQueue?: 'send';
  /** Reads the GitHub webhook secret. */
  secrets?: 'read';
  /** Invokes the teams' verification functions: only those tagged `kiln:hook=true`. */
  hooks?: 'invoke';
}

export interface EntryPoint {
  /** Function name, and the module's file name: `putEnvironment`, `AcquireLease`. */
  name: string;
  /** The module under functions/handlers/, without `.ts`: `api/putEnvironment`. */
  module: string;
  trigger: Trigger;
  root: RootName;
  access: Access;
  /** The function's timeout when it is not its trigger's usual one (see infra/constructs/functions.ts). */
  timeoutSeconds?: number;
}

const READ: Access = { table: 'read' };
/** Changing desired state: the writes that start deployments. */
const REQUEST: Access = { table: 'readWrite', workflows: 'start', events: 'publish' };
/** Answering a workflow's callback Task (SendTaskSuccess/Failure), recording and announcing it. */
const ANSWER: Access = { table: 'readWrite', workflows: 'respond', events: 'publish' };

/** How often scheduled upkeep runs on AWS; embedded, KILN_UPKEEP_PERIOD_SECONDS may set another period. */
export const UPKEEP_SCHEDULE = 'rate(5 minutes)';

/** The queue accepted Git pushes wait in (FIFO: one ordered group per branch). */
export const PUSH_QUEUE = 'kiln-git-pushes';

/** CodeCommit's branch pushes on the account's default bus (referenceCreated/Updated/Deleted). */
export const CODECOMMIT_BRANCH_PUSHES: EventPattern = {
  source: ['aws.codecommit'],
  'detail-type': ['CodeCommit Repository State Change'],
  detail: { event: ['referenceCreated', 'referenceUpdated', 'referenceDeleted'], referenceType: ['branch'] },
};

export const ENTRY_POINTS: readonly EntryPoint[] = [
  // The REST API (functions/handlers/api/): people, through API Gateway with IAM auth.
  http('listEnvironments', 'GET', '/environments', 'store', READ),
  http('putEnvironment', 'PUT', '/environments/{name}', 'request', {
    table: 'readWrite',
    workflows: 'start',
    events: 'publish',
  }),
  http('getEnvironment', 'GET', '/environments/{name}', 'store', READ),
  http('deleteEnvironment', 'DELETE', '/environments/{name}', 'request', {
    table: 'readWrite',
    workflows: 'start',
    events: 'publish',
  }),
  http('startDeployment', 'POST', '/environments/{name}/deployments', 'request', {
    table: 'readWrite',
    workflows: 'start',
    events: 'publish',
  }),
  http('listDeployments', 'GET', '/environments/{name}/deployments', 'store', READ),
  http('getDeployment', 'GET', '/environments/{name}/deployments/{id}', 'store', READ),
  // Records the cancel request; the workflow acts on it (one waiting for an approval is told at once).
  http('cancelDeployment', 'POST', '/environments/{name}/deployments/{id}/cancel', 'request', {
    table: 'readWrite',
    workflows: 'respond',
  }),
  // An approver's answer is recorded, then sent back to the workflow waiting on its task token.
  http('approveDeployment', 'POST', '/environments/{name}/deployments/{id}/approve', 'request', ANSWER),
  http('rejectDeployment', 'POST', '/environments/{name}/deployments/{id}/reject', 'request', ANSWER),
  http('listStacks', 'GET', '/environments/{name}/stacks', 'store', READ),
  http('listPushes', 'GET', '/environments/{name}/pushes', 'store', READ),
  http('listAudit', 'GET', '/environments/{name}/audit', 'store', READ),
  http('verifyAudit', 'GET', '/environments/{name}/audit/verify', 'store', READ),
  http('sleepEnvironment', 'POST', '/environments/{name}/sleep', 'request', REQUEST),
  http('wakeEnvironment', 'POST', '/environments/{name}/wake', 'request', REQUEST),
  http('snoozeEnvironment', 'POST', '/environments/{name}/snooze', 'request', REQUEST),
  http('rollbackEnvironment', 'POST', '/environments/{name}/rollback', 'request', REQUEST),
  http('listTemplates', 'GET', '/templates', 'store', READ),
  http('putTemplate', 'PUT', '/templates/{name}', 'store', { table: 'readWrite' }),
  http('getTemplate', 'GET', '/templates/{name}', 'store', READ),
  http('deleteTemplate', 'DELETE', '/templates/{name}', 'store', { table: 'readWrite' }),
  // Freeze windows: a freeze-manager's; made inside its window, a freeze announces its start at once.
  http('listFreezes', 'GET', '/freezes', 'store', READ),
  http('putFreeze', 'PUT', '/freezes/{id}', 'announce', { table: 'readWrite', events: 'publish' }),
  http('getFreeze', 'GET', '/freezes/{id}', 'store', READ),
  http('deleteFreeze', 'DELETE', '/freezes/{id}', 'announce', { table: 'readWrite', events: 'publish' }),
  // The API's contract (docs/openapi.json, generated from the schemas): open, as a webhook is, and it
  // reads nothing.
  {
    name: 'getOpenApiDocument',
    module: 'api/getOpenApiDocument',
    trigger: { type: 'http', method: 'GET', path: '/openapi.json', auth: 'none' },
    root: 'clock',
    access: { table: 'none' },
  },

  // Git pushes: GitHub's webhook and CodeCommit's events are queued; the consumer ingests them.
  {
    name: 'githubWebhook',
    module: 'hooks/githubWebhook',
    trigger: { type: 'http', method: 'POST', path: '/hooks/github', auth: 'none' },
    root: 'ingest',
    access: { table: 'none', pushQueue: 'send', secrets: 'read' },
  },
  {
    name: 'enqueueCodeCommitPush',
    module: 'events/enqueueCodeCommitPush',
    trigger: { type: 'rule', rule: 'codecommit-pushes', bus: 'default', pattern: CODECOMMIT_BRANCH_PUSHES },
    root: 'enqueue',
    access: { table: 'none', pushQueue: 'send' },
  },
  {
    name: 'ingestPushes',
    module: 'queues/ingestPushes',
    trigger: { type: 'queue', queue: PUSH_QUEUE, batchSize: 10 },
    root: 'request',
    access: { table: 'readWrite', workflows: 'start', events: 'publish' },
  },

  // Scheduled upkeep: idle environments sleep (and wake at their wakeAt times); orphans are reaped; drift
  // is repaired.
  upkeep('sweepIdle', 'kiln-idle-sweep', 'upkeep', {
    // lastRequestAt reads the environment's rule and the ALB's request counts (CloudWatch).
    ...REQUEST,
    traffic: 'requests',
  }),
  // Removes what carries Kiln's tags and no record wants. It starts terminations and does not wait for
  // them: what is still there at the next run is terminated again. A run overlapping another is harmless.
  upkeep('reapOrphans', 'kiln-orphan-reaper', 'stack', {
    table: 'readWrite',
    compute: 'terminate',
    traffic: 'remove',
  }),
  // Probes live stacks (target health) and redeploys those that drifted.
  upkeep('repairDrift', 'kiln-drift-check', 'upkeep', { ...REQUEST, traffic: 'read' }),
  // Announces freeze windows as they start and end (Freeze Started / Freeze Ended on the bus).
  upkeep('announceFreezes', 'kiln-freeze-clock', 'announce', { table: 'readWrite', events: 'publish' }),
  // A request to a sleeping environment's endpoint wakes it.
  {
    name: 'wakeOnRequest',
    module: 'targets/wakeOnRequest',
    trigger: { type: 'target' },
    root: 'request',
    access: REQUEST,
  },

  // Workflow tasks (functions/handlers/tasks/), one per Task state name in state-machines/.
  // The approval gate's callback: records the task token (and sends back an answer given meanwhile).
  task('RequestApproval', 'request', ANSWER),
  // The freeze gate before the lease: a held deployment waits in the workflow's Wait state, not here.
  task('CheckFreeze', 'store', { table: 'readWrite' }),
  task('AcquireLease', 'request', { table: 'readWrite', workflows: 'observe', events: 'publish' }),
  // launchStack, then ensureEndpoint + registerStack (rule and target group).
  task('ProvisionStack', 'stack', { table: 'readWrite', compute: 'launch', traffic: 'manage' }),
  // probeHealth reads target health.
  task('CheckHealth', 'traffic', { table: 'readWrite', traffic: 'read' }),
  task('CutOver', 'traffic', { table: 'readWrite', traffic: 'manage' }),
  // Verification hooks through the stack's test route (a rule and target group on AWS: manage), and
  // undoing a cutover whose afterTraffic hook failed.
  task('VerifyStack', 'verify', { table: 'readWrite', traffic: 'manage', hooks: 'invoke' }),
  task('RevertCutover', 'traffic', { table: 'readWrite', traffic: 'manage' }),
  // Canary: a step's split, then its judgement from the new stack's own metrics (CloudWatch on AWS).
  task('ShiftCanary', 'traffic', { table: 'readWrite', traffic: 'manage' }),
  task('JudgeCanary', 'traffic', { table: 'readWrite', traffic: 'requests' }),
  // Keeps the replaced stack warm for the rollback window: records only (its weight is 0 already).
  task('StandByStack', 'store', { table: 'readWrite' }),
  task('DrainStack', 'traffic', { table: 'readWrite', traffic: 'manage' }),
  // Drains (weight 0, deregister) then terminates.
  task('DecommissionStack', 'stack', { table: 'readWrite', compute: 'terminate', traffic: 'manage' }),
  task('RestoreTraffic', 'traffic', { table: 'readWrite', traffic: 'manage' }),
  task('PlanTeardown', 'store', READ),
  task('RemoveEndpoint', 'traffic', { table: 'readWrite', traffic: 'manage' }),
  // Points the environment's rule at the waker (AWS) or holds its requests (embedded).
  task('ParkEndpoint', 'traffic', { table: 'readWrite', traffic: 'manage' }),
  task('FinishDeployment', 'announce', { table: 'readWrite', events: 'publish' }),
];

/**
 * The waker: the one `target` entry point, the ALB Lambda target the rules of sleeping environments
 * forward to (embedded, what a parked endpoint invokes).
 */
export function wakerOf(entries: readonly EntryPoint[] = ENTRY_POINTS): EntryPoint {
  const [waker, ...others] = entries.filter((entry) => entry.trigger.type === 'target');
  if (!waker || others.length > 0)
    throw new Error('functions/manifest.ts must list one target entry point: the waker');
  return waker;
}

/** Queue, rule and schedule handlers' timeout: short work per invocation (a batch, an event, a sweep). */
export const EVENT_HANDLER_TIMEOUT_SECONDS = 60;

/** A queue and its dead-letter queue (see infra/constructs/queues.ts, embedded: LocalQueue). */
export interface QueueDefinition {
  name: string;
  fifo: boolean;
  /** At least six times the consumer's timeout, as AWS advises for event source mappings. */
  visibilityTimeoutSeconds: number;
  /** Receives before a message goes to the dead-letter queue. */
  maxReceiveCount: number;
}

/** Every queue Kiln consumes. */
export const QUEUES: readonly QueueDefinition[] = [
  // 6 × the consumer's 60 s timeout (AWS's advice for event source mappings); 5 tries before the DLQ.
  { name: PUSH_QUEUE, fifo: true, visibilityTimeoutSeconds: 360, maxReceiveCount: 5 },
];

/** The configuration variables an entry point's function gets: exactly those its ports read. */
export function configOf(entry: Pick<EntryPoint, 'root'>): ConfigName[] {
  return [
    ...new Set(ROOT_PORTS[entry.root].flatMap((port): readonly ConfigName[] => PORT_CONFIG[port])),
  ].sort();
}

/** A REST route: what the embedded gateway and API Gateway both build from. */
export interface Route {
  method: HttpMethod;
  /** API Gateway resource path; `{name}` segments become path parameters. */
  path: string;
  /** The entry point serving it. */
  handler: string;
  /** `none`: no IAM signature asked (a webhook authenticates its caller itself). */
  auth: 'iam' | 'none';
}

/** The routes of `http` entry points. */
export function routesOf(entries: readonly EntryPoint[]): Route[] {
  return entries.flatMap((entry) =>
    entry.trigger.type === 'http'
      ? [
          {
            method: entry.trigger.method,
            path: entry.trigger.path,
            handler: entry.name,
            auth: entry.trigger.auth,
          },
        ]
      : [],
  );
}

export const ROUTES: readonly Route[] = routesOf(ENTRY_POINTS);

/** The entry point named `name`; throws for a name the manifest does not list. */
export function entryPoint(name: string): EntryPoint {
  const found = ENTRY_POINTS.find((entry) => entry.name === name);
  if (!found) throw new Error(`no entry point named ${name} in functions/manifest.ts`);
  return found;
}

function http(name: string, method: HttpMethod, path: string, root: RootName, access: Access): EntryPoint {
  return { name, module: `api/${name}`, trigger: { type: 'http', method, path, auth: 'iam' }, root, access };
}

/** Scheduled upkeep: a schedule of its own, every UPKEEP_SCHEDULE. */
function upkeep(name: string, schedule: string, root: RootName, access: Access): EntryPoint {
  return {
    name,
    module: `schedules/${name}`,
    trigger: { type: 'schedule', schedule, expression: UPKEEP_SCHEDULE },
    root,
    access,
  };
}

function task(name: string, root: RootName, access: Access): EntryPoint {
  return { name, module: `tasks/${name}`, trigger: { type: 'task' }, root, access };
}
