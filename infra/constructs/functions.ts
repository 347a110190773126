import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AssetHashType, DockerImage, Duration, type ILocalBundling, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { buildSync, type Metafile } from 'esbuild';
import { functionNameOf, loadDefinition, taskStates } from '../../functions/asl.ts';
import { type Route, routes } from '../../functions/shared/routes.ts';
import type { ComputePermissions } from './compute-permissions.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import type { KilnTable, TableAccess } from './table.ts';
import { workflowFiles } from './workflows.ts';

const ROOT = join(import.meta.dirname, '../..');
export const API_HANDLERS_DIR = join(ROOT, 'functions/handlers/api');
export const TASK_HANDLERS_DIR = join(ROOT, 'functions/handlers/tasks');

/**
 * How every handler is bundled: the single source for the CDK functions and for `npm run bench`, which
 * measures exactly what Lambda runs.
 * - ESM, because the handlers are ES modules and ESM lets esbuild tree-shake the AWS SDK v3 (bundled, not
 *   taken from the runtime: only the commands Kiln sends are shipped, and the version is the one tested).
 * - `module` before `main`, so packages' ES builds are picked and tree-shaken.
 * - The banner gives CommonJS dependencies (middy, Powertools internals) a `require` inside an ES module.
 * - Source maps without sources: stack traces map back to `.ts` lines (NODE_OPTIONS=--enable-source-maps)
 *   without shipping the sources again.
 */
export const HANDLER_BUNDLE = {
  format: 'esm',
  platform: 'node',
  target: 'node24',
  minify: true,
  // Error class names are what Step Functions' Retry/Catch match (LeaseHeldError, StackNotHealthyError):
  // minification would otherwise rename them.
  keepNames: true,
  sourcemap: true,
  sourcesContent: false,
  mainFields: ['module', 'main'],
  banner: "import { createRequire } from 'module';const require = createRequire(import.meta.url);",
  external: [] as string[],
} as const;

/**
 * Bundles every handler in one esbuild run, `<outdir>/<name>/index.mjs` (+ `.map`) each. One run parses
 * the shared modules (the AWS SDK clients above all) once for all handlers: about 4 s for the 19 of them,
 * where one esbuild process per NodejsFunction took 14 s of a 22 s synth. Each bundle is still
 * self-contained (no code splitting), as Lambda needs.
 */
export function bundleHandlers(
  outdir: string,
  modules: readonly HandlerModule[] = handlerModules(),
): Metafile {
  const { banner, mainFields, external, ...options } = HANDLER_BUNDLE;
  const result = buildSync({
    ...options,
    banner: { js: banner },
    mainFields: [...mainFields],
    external: [...external],
    bundle: true,
    entryPoints: Object.fromEntries(modules.map((module) => [`${module.name}/index`, module.entry])),
    outdir,
    outExtension: { '.js': '.mjs' },
    metafile: true,
    logLevel: 'warning',
  });
  return result.metafile;
}

let sharedBuild: string | undefined;

/** Runs bundleHandlers once per process, the first time a function's asset is staged. */
function sharedBuildDir(): string {
  if (!sharedBuild) {
    // Inside the project, so the source maps' relative paths (and so the asset hashes) are the same
    // wherever the project is checked out.
    const cache = join(ROOT, 'node_modules/.cache');
    mkdirSync(cache, { recursive: true });
    const dir = mkdtempSync(join(cache, 'kiln-handlers-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    bundleHandlers(dir);
    sharedBuild = dir;
  }
  return sharedBuild;
}

/**
 * Local bundling of one handler from the shared build. CDK calls it only for stacks it bundles, so
 * `aws:cdk:bundling-stacks: []` still skips all of it in template tests; never Docker.
 */
class SharedBuildBundler implements ILocalBundling {
  /** Part of CDK's asset cache key: one asset per handler. */
  readonly handler: string;

  constructor(handler: string) {
    this.handler = handler;
  }

  tryBundle(outputDir: string): boolean {
    cpSync(join(sharedBuildDir(), this.handler), outputDir, { recursive: true });
    return true;
  }
}

function handlerCode(module: HandlerModule): Code {
  return Code.fromAsset(dirname(module.entry), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      local: new SharedBuildBundler(module.name),
      // Required by the type; never pulled or run, because local bundling always succeeds.
      image: DockerImage.fromRegistry('dummy'),
    },
  });
}

export type HandlerKind = 'api' | 'task';

export interface HandlerModule {
  kind: HandlerKind;
  /** Module name: `putEnvironment`, `AcquireLease`. */
  name: string;
  entry: string;
  /** For API handlers: the route it serves. */
  route?: Route;
}

/** Every handler deployed as a function: one per route of the REST API, one per task module. */
export function handlerModules(): HandlerModule[] {
  const api = routes.map((route) => ({
    kind: 'api' as const,
    name: route.handler,
    entry: join(API_HANDLERS_DIR, `${route.handler}.ts`),
    route,
  }));
  const tasks = readdirSync(TASK_HANDLERS_DIR)
    .filter((file) => file.endsWith('.ts'))
    .sort()
    .map((file) => ({
      kind: 'task' as const,
      name: basename(file, '.ts'),
      entry: join(TASK_HANDLERS_DIR, file),
    }));
  const modules = [...api, ...tasks];
  for (const { name, entry } of modules) {
    if (!existsSync(entry)) throw new Error(`handler module ${entry} does not exist`);
    // Functions, grants and ASL substitutions are keyed by module name.
    if (modules.filter((module) => module.name === name).length > 1) {
      throw new Error(`two handler modules are named ${name}: function names must be unique`);
    }
  }
  return modules;
}

/** What a handler may touch beyond its own logs and traces. */
export interface HandlerAccess {
  table: TableAccess;
  /** Starts deploy and teardown executions (API requests that change an environment). */
  startsWorkflows?: true;
  /** Describes executions: the lease is reclaimed only from a workflow that is no longer running. */
  readsWorkflows?: true;
  /** Launching a stack's instances, or terminating them. */
  compute?: 'launch' | 'terminate';
  /** Target health only, or creating/weighting/removing rules and target groups. */
  traffic?: 'read' | 'manage';
}

/**
 * Least privilege per handler, derived from what its core function does through the ports
 * (functions/core/requests.ts and deployment-tasks.ts). A handler missing here fails synth.
 */
export const HANDLER_ACCESS: Readonly<Record<string, HandlerAccess>> = {
  listEnvironments: { table: 'read' },
  getEnvironment: { table: 'read' },
  listDeployments: { table: 'read' },
  getDeployment: { table: 'read' },
  listStacks: { table: 'read' },
  putEnvironment: { table: 'readWrite', startsWorkflows: true },
  startDeployment: { table: 'readWrite', startsWorkflows: true },
  deleteEnvironment: { table: 'readWrite', startsWorkflows: true },
  // Records the cancel request; the workflow acts on it.
  cancelDeployment: { table: 'readWrite' },
  AcquireLease: { table: 'readWrite', readsWorkflows: true },
  // launchStack, then ensureEndpoint + registerStack (rule and target group).
  ProvisionStack: { table: 'readWrite', compute: 'launch', traffic: 'manage' },
  // probeHealth reads target health.
  CheckHealth: { table: 'readWrite', traffic: 'read' },
  CutOver: { table: 'readWrite', traffic: 'manage' },
  DrainStack: { table: 'readWrite', traffic: 'manage' },
  // Drains (weight 0, deregister) then terminates.
  DecommissionStack: { table: 'readWrite', compute: 'terminate', traffic: 'manage' },
  RestoreTraffic: { table: 'readWrite', traffic: 'manage' },
  PlanTeardown: { table: 'read' },
  RemoveEndpoint: { table: 'readWrite', traffic: 'manage' },
  FinishDeployment: { table: 'readWrite' },
};

/** API Gateway's integration timeout: a longer Lambda timeout would only let work outlive its request. */
export const API_TIMEOUT = Duration.seconds(29);

/**
 * Each task function's timeout: the longest `TimeoutSeconds` of the Task states that call it, so the
 * function is never cut short before Step Functions stops waiting for it (nor runs on long after).
 */
export function taskTimeouts(): Map<string, number> {
  const timeouts = new Map<string, number>();
  for (const { path } of workflowFiles()) {
    for (const task of taskStates(loadDefinition(path))) {
      const name = functionNameOf(task.resource);
      if (task.timeoutSeconds === undefined) {
        throw new Error(`${basename(path)}: Task state ${task.stateName} has no TimeoutSeconds`);
      }
      timeouts.set(name, Math.max(timeouts.get(name) ?? 0, task.timeoutSeconds));
    }
  }
  return timeouts;
}

export interface KilnFunctionsProps {
  /** The environment every function gets: the AWS composition root reads exactly these names. */
  environment: Readonly<Record<string, string>>;
  table: KilnTable;
  permissions: ComputePermissions;
  /** ARNs of the state machines (formatted, see workflows.ts) and of their executions. */
  workflows: { stateMachineArns: string[]; executionArns: string[] };
}

/** One NodejsFunction per handler module, each with its own role, log group and least-privilege grants. */
export class KilnFunctions extends Construct {
  /** Handler module name → function. */
  readonly byName = new Map<string, NodejsFunction>();
  readonly modules: HandlerModule[];

  constructor(scope: Construct, id: string, props: KilnFunctionsProps) {
    super(scope, id);
    this.modules = handlerModules();
    const timeouts = taskTimeouts();

    for (const module of this.modules) {
      const access = HANDLER_ACCESS[module.name];
      if (!access)
        throw new Error(
          `handler ${module.name} has no entry in HANDLER_ACCESS (infra/constructs/functions.ts)`,
        );
      let timeout = API_TIMEOUT;
      if (module.kind === 'task') {
        const seconds = timeouts.get(module.name);
        if (seconds === undefined) {
          throw new Error(
            `task handler ${module.name} is not called by any state machine in state-machines/`,
          );
        }
        timeout = Duration.seconds(seconds);
      }

      const group = new Construct(this, module.name);
      const logGroup = new LogGroup(group, 'Logs', {
        retention: RetentionDays.THREE_MONTHS,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      // Its own role instead of AWSLambdaBasicExecutionRole: it writes to its own log group only.
      const role = new Role(group, 'Role', {
        assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
        description: `Kiln ${module.kind} handler ${module.name}`,
      });
      logGroup.grantWrite(role);

      const fn = new NodejsFunction(group, 'Function', {
        entry: module.entry,
        handler: 'index.handler',
        description: module.route
          ? `Kiln API ${module.route.method} ${module.route.path}`
          : `Kiln workflow task ${module.name}`,
        runtime: Runtime.NODEJS_24_X,
        architecture: Architecture.ARM_64,
        // API handlers answer people: more memory buys more CPU for a faster cold start.
        memorySize: module.kind === 'api' ? 512 : 256,
        timeout,
        tracing: Tracing.ACTIVE,
        logGroup,
        role,
        environment: {
          ...props.environment,
          POWERTOOLS_SERVICE_NAME: 'kiln',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
        },
        code: handlerCode(module),
      });
      this.byName.set(module.name, fn);
      this.bind(role, access, props);

      acknowledgeWildcardResource(
        role.node.findChild('DefaultPolicy'),
        '*',
        'X-Ray PutTraceSegments and PutTelemetryRecords (active tracing) support no resource-level permissions.',
      );
    }
  }

  /** Every function, API handlers first, in route order. */
  get all(): NodejsFunction[] {
    return [...this.byName.values()];
  }

  private bind(role: Role, access: HandlerAccess, props: KilnFunctionsProps): void {
    props.table.grant(role, access.table);
    if (access.startsWorkflows) {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'StartWorkflows',
          actions: ['states:StartExecution'],
          resources: props.workflows.stateMachineArns,
        }),
      );
    }
    if (access.readsWorkflows) {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'DescribeWorkflowExecutions',
          actions: ['states:DescribeExecution'],
          resources: props.workflows.executionArns,
        }),
      );
      for (const executions of props.workflows.executionArns) {
        acknowledgeWildcardResource(
          role.node.findChild('DefaultPolicy'),
          executions,
          "Executions are named by deployment id at run time; the grant covers only DescribeExecution on executions of Kiln's own state machines.",
        );
      }
    }
    if (access.compute === 'launch') props.permissions.grantLaunch(role);
    if (access.compute === 'terminate') props.permissions.grantTerminate(role);
    if (access.traffic === 'read') props.permissions.grantTrafficRead(role);
    if (access.traffic === 'manage') props.permissions.grantTrafficManage(role);
  }
}
