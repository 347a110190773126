import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  ArnFormat,
  AssetHashType,
  DockerImage,
  Duration,
  type ILocalBundling,
  RemovalPolicy,
  Stack,
} from 'aws-cdk-lib';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { buildSync, type Metafile } from 'esbuild';
import { HOOK_TAG } from '../../functions/adapters/aws/tags.ts';
import { functionNameOf, loadDefinition, taskStates } from '../../functions/asl.ts';
import {
  type Access,
  configOf,
  ENTRY_POINTS,
  type EntryPoint,
  EVENT_HANDLER_TIMEOUT_SECONDS,
} from '../../functions/manifest.ts';
import type { ConfigName } from '../../functions/shared/config.ts';
import type { ComputePermissions } from './compute-permissions.ts';
import { acknowledgeWildcardResource } from './nag.ts';
import type { KilnTable } from './table.ts';
import { workflowFiles } from './workflows.ts';

const ROOT = join(import.meta.dirname, '../..');
export const HANDLERS_DIR = join(ROOT, 'functions/handlers');

/**
 * How every handler is bundled: the single source for the CDK functions and for `npm run bench`, which
 * measures exactly what Lambda runs.
 * - ESM, because the handlers are ES modules and ESM lets esbuild tree-shake the AWS SDK v3 (bundled, not
 *   taken from the runtime: only the commands Kiln sends are shipped, and the version is the one tested).
 * - `module` before `main`, so packages' ES builds are picked and tree-shaken.
 * - The banner gives CommonJS dependencies (middy, Powertools internals) a `require` inside an ES module.
 * - Source maps without sources: stack traces map back to `.ts` lines (NODE_OPTIONS=--enable-source-maps)
 *   without shipping the sources again.
 * - The SDK's default credential chain is replaced by the environment's credentials, which is where
 *   Lambda puts the execution role's (functions/shared/aws/lambda-credentials.ts): a bundle loses the
 *   STS/SSO/login clients it never calls, about 40 % of its size and of its cold import.
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
  alias: { '@aws-sdk/credential-provider-node': join(ROOT, 'functions/shared/aws/lambda-credentials.ts') },
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
    entryPoints: Object.fromEntries(modules.map((module) => [`${module.entry.name}/index`, module.file])),
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
  return Code.fromAsset(dirname(module.file), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      local: new SharedBuildBundler(module.entry.name),
      // Required by the type; never pulled or run, because local bundling always succeeds.
      image: DockerImage.fromRegistry('dummy'),
    },
  });
}

/** A handler module to bundle: an entry point of the manifest, with its file. */
export interface HandlerModule {
  entry: EntryPoint;
  /** Absolute path of the module. */
  file: string;
}

/** Every entry point of the manifest with its module file, which must exist. */
export function handlerModules(entries: readonly EntryPoint[] = ENTRY_POINTS): HandlerModule[] {
  return entries.map((entry) => {
    const file = join(HANDLERS_DIR, `${entry.module}.ts`);
    if (!existsSync(file))
      throw new Error(`handler module ${file} (manifest entry ${entry.name}) does not exist`);
    return { entry, file };
  });
}

/** API Gateway's integration timeout: a longer Lambda timeout would only let work outlive its request. */
export const API_TIMEOUT = Duration.seconds(29);

/**
 * Each task function's timeout: the longest `TimeoutSeconds` of the Task states that call it, so the
 * function is never cut short before Step Functions stops waiting for it (nor runs on long after). A
 * callback Task's TimeoutSeconds is its wait for an answer, not its function's run: that function gets
 * CALLBACK_FUNCTION_TIMEOUT_SECONDS.
 */
export const CALLBACK_FUNCTION_TIMEOUT_SECONDS = 30;

export function taskTimeouts(): Map<string, number> {
  const timeouts = new Map<string, number>();
  for (const { path } of workflowFiles()) {
    for (const task of taskStates(loadDefinition(path))) {
      const name = functionNameOf(task.resource);
      if (task.timeoutSeconds === undefined) {
        throw new Error(`${basename(path)}: Task state ${task.stateName} has no TimeoutSeconds`);
      }
      const seconds = task.callback ? CALLBACK_FUNCTION_TIMEOUT_SECONDS : task.timeoutSeconds;
      timeouts.set(name, Math.max(timeouts.get(name) ?? 0, seconds));
    }
  }
  return timeouts;
}

export interface KilnFunctionsProps {
  /** The value of every configuration variable; each function gets only those its ports read (configOf). */
  config: Readonly<Record<ConfigName, string>>;
  table: KilnTable;
  permissions: ComputePermissions;
  /** ARNs of the state machines (formatted, see workflows.ts) and of their executions. */
  workflows: { stateMachineArns: string[]; executionArns: string[] };
  /** ARN of Kiln's event bus, the only one its functions may put events on. */
  eventBusArn: string;
  /** The queue accepted pushes are sent to, and the secret GitHub signs them with. */
  pushQueue?: IQueue;
  githubWebhookSecret?: ISecret;
  /** The entry points to deploy (the manifest's unless a test gives its own). */
  entries?: readonly EntryPoint[];
}

/** One function per entry point of the manifest, each with its own role, log group and least-privilege grants. */
export class KilnFunctions extends Construct {
  /** Entry point name → function. */
  readonly byName = new Map<string, NodejsFunction>();
  readonly modules: HandlerModule[];

  constructor(scope: Construct, id: string, props: KilnFunctionsProps) {
    super(scope, id);
    this.modules = handlerModules(props.entries);
    const timeouts = taskTimeouts();

    for (const module of this.modules) {
      const { entry } = module;
      const group = new Construct(this, entry.name);
      const logGroup = new LogGroup(group, 'Logs', {
        retention: RetentionDays.THREE_MONTHS,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      // Its own role instead of AWSLambdaBasicExecutionRole: it writes to its own log group only.
      const role = new Role(group, 'Role', {
        assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
        description: `Kiln ${entry.trigger.type} handler ${entry.name}`,
      });
      logGroup.grantWrite(role);

      const fn = new NodejsFunction(group, 'Function', {
        entry: module.file,
        handler: 'index.handler',
        description: describe(entry),
        runtime: Runtime.NODEJS_24_X,
        architecture: Architecture.ARM_64,
        // API handlers answer people: more memory buys more CPU for a faster cold start.
        memorySize: entry.trigger.type === 'http' ? 512 : 256,
        timeout: timeoutOf(entry, timeouts),
        tracing: Tracing.ACTIVE,
        logGroup,
        role,
        environment: {
          ...Object.fromEntries(configOf(entry).map((name) => [name, props.config[name]])),
          POWERTOOLS_SERVICE_NAME: 'kiln',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
        },
        code: handlerCode(module),
      });
      this.byName.set(entry.name, fn);
      this.bind(role, entry.access, props);

      acknowledgeWildcardResource(
        role.node.findChild('DefaultPolicy'),
        '*',
        'X-Ray PutTraceSegments and PutTelemetryRecords (active tracing) support no resource-level permissions.',
      );
    }
  }

  /** Every function, in manifest order. */
  get all(): NodejsFunction[] {
    return [...this.byName.values()];
  }

  private bind(role: Role, access: Access, props: KilnFunctionsProps): void {
    if (access.table !== 'none') props.table.grant(role, access.table);
    if (access.pushQueue === 'send') {
      if (!props.pushQueue) throw new Error('a function sends to the push queue, but the stack has none');
      props.pushQueue.grantSendMessages(role);
    }
    if (access.secrets === 'read') {
      if (!props.githubWebhookSecret)
        throw new Error('a function reads the webhook secret, but the stack has none');
      props.githubWebhookSecret.grantRead(role);
    }
    if (access.workflows === 'start') {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'StartWorkflows',
          actions: ['states:StartExecution'],
          resources: props.workflows.stateMachineArns,
        }),
      );
    }
    if (access.workflows === 'respond') {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'AnswerWorkflowCallbacks',
          actions: ['states:SendTaskSuccess', 'states:SendTaskFailure'],
          resources: props.workflows.stateMachineArns,
        }),
      );
    }
    if (access.workflows === 'observe') {
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
    if (access.traffic === 'requests') props.permissions.grantTrafficRequests(role);
    if (access.traffic === 'remove') props.permissions.grantTrafficRemove(role);
    if (access.traffic === 'manage') props.permissions.grantTrafficManage(role);
    if (access.hooks === 'invoke') {
      // The teams' functions are named in specs at run time: any function of this account and region,
      // but only one its team tagged for Kiln (Lambda checks aws:ResourceTag on Invoke).
      const functions = Stack.of(role).formatArn({
        service: 'lambda',
        resource: 'function',
        resourceName: '*',
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'InvokeTaggedHooks',
          actions: ['lambda:InvokeFunction'],
          resources: [functions, `${functions}:*`],
          conditions: { StringEquals: { [`aws:ResourceTag/${HOOK_TAG.key}`]: HOOK_TAG.value } },
        }),
      );
      for (const resource of [functions, `${functions}:*`]) {
        acknowledgeWildcardResource(
          role.node.findChild('DefaultPolicy'),
          resource,
          `Verification hooks are the teams' functions, named in specs at run time; Invoke is allowed only on functions tagged ${HOOK_TAG.key}=${HOOK_TAG.value}.`,
        );
      }
    }
    if (access.events === 'publish') {
      role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'PublishLifecycleEvents',
          actions: ['events:PutEvents'],
          resources: [props.eventBusArn],
        }),
      );
    }
  }
}

function describe(entry: EntryPoint): string {
  const { trigger } = entry;
  switch (trigger.type) {
    case 'http':
      return `Kiln API ${trigger.method} ${trigger.path}`;
    case 'task':
      return `Kiln workflow task ${entry.name}`;
    case 'queue':
      return `Kiln consumer of queue ${trigger.queue}`;
    case 'rule':
      return `Kiln target of rule ${trigger.rule}`;
    case 'schedule':
      return `Kiln schedule ${trigger.schedule} (${trigger.expression})`;
    case 'target':
      return `Kiln ALB target ${entry.name}`;
  }
}

/**
 * A task's timeout is its Task states' (taskTimeouts); an API handler's is API Gateway's; the others 60 s,
 * unless the entry point names its own.
 */
function timeoutOf(entry: EntryPoint, taskTimeouts: ReadonlyMap<string, number>): Duration {
  if (entry.timeoutSeconds !== undefined) return Duration.seconds(entry.timeoutSeconds);
  if (entry.trigger.type === 'http') return API_TIMEOUT;
  if (entry.trigger.type !== 'task') return Duration.seconds(EVENT_HANDLER_TIMEOUT_SECONDS);
  const seconds = taskTimeouts.get(entry.name);
  if (seconds === undefined) {
    throw new Error(`task handler ${entry.name} is not called by any state machine in state-machines/`);
  }
  return Duration.seconds(seconds);
}
