import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';
import { functionNameOf, loadDefinition, taskStates } from '../../functions/asl.ts';
import {
  configOf,
  ENTRY_POINTS,
  EVENT_HANDLER_TIMEOUT_SECONDS,
  entryPoint,
  ROOT_PORTS,
} from '../../functions/manifest.ts';
import {
  readComputeConfig,
  readEventsConfig,
  readPushQueueConfig,
  readSecretsConfig,
  readStoreConfig,
  readTrafficConfig,
  readWorkflowsConfig,
} from '../../functions/shared/config.ts';
import {
  bundleHandlers,
  CALLBACK_FUNCTION_TIMEOUT_SECONDS,
  HANDLER_BUNDLE,
  HANDLERS_DIR,
  handlerModules,
} from '../../infra/constructs/functions.ts';
import { workflowFiles } from '../../infra/constructs/workflows.ts';
import { functionIds, kiln, logicalIdOf, ROOT, resourcesOf } from './kiln-template.ts';

function functionProperties(name: string): Record<string, unknown> {
  const { stack, template } = kiln();
  const id = functionIds(stack).get(name);
  assert.ok(id, `no function for ${name}`);
  return resourcesOf(template, 'AWS::Lambda::Function')[id].Properties;
}

function environmentOf(name: string): Record<string, unknown> {
  return (functionProperties(name).Environment as { Variables: Record<string, unknown> }).Variables;
}

describe('functions', () => {
  it('every handler module is an entry point of the manifest, and every entry point has its module', () => {
    const modules = readdirSync(HANDLERS_DIR, { recursive: true, withFileTypes: true })
      .filter((file) => file.isFile() && file.name.endsWith('.ts'))
      .map((file) =>
        join(file.parentPath, file.name)
          .slice(HANDLERS_DIR.length + 1)
          .replace(/\.ts$/, ''),
      )
      .sort();
    assert.deepEqual(ENTRY_POINTS.map((entry) => entry.module).sort(), modules);
    assert.equal(
      new Set(ENTRY_POINTS.map((entry) => entry.name)).size,
      ENTRY_POINTS.length,
      'names are unique',
    );
  });

  it('exist exactly once per entry point of the manifest', () => {
    assert.deepEqual(
      [...kiln().stack.functions.byName.keys()].sort(),
      ENTRY_POINTS.map((entry) => entry.name).sort(),
    );
    // Any other function in the template is one of CDK's own custom-resource providers, never a handler.
    const { stack, template } = kiln();
    const handlers = new Set(functionIds(stack).values());
    for (const [id, fn] of Object.entries(resourcesOf(template, 'AWS::Lambda::Function'))) {
      if (handlers.has(id)) continue;
      assert.doesNotMatch(
        String(fn.Properties.Handler),
        /^index\.handler$/,
        `${id} looks like a handler outside the manifest`,
      );
    }
  });

  it('run on Node.js 24, ARM64, with active tracing', () => {
    for (const name of kiln().stack.functions.byName.keys()) {
      const properties = functionProperties(name);
      assert.equal(properties.Runtime, 'nodejs24.x', name);
      assert.deepEqual(properties.Architectures, ['arm64'], name);
      assert.deepEqual(properties.TracingConfig, { Mode: 'Active' }, name);
      assert.equal(properties.Handler, 'index.handler', name);
    }
  });

  it('each get exactly the configuration their ports read (the manifest’s), and Powertools settings', () => {
    const { stack } = kiln();
    for (const name of stack.functions.byName.keys()) {
      const environment = environmentOf(name);
      const kilnVariables = Object.keys(environment).filter((key) => key.startsWith('KILN_'));
      assert.deepEqual(kilnVariables.sort(), configOf(entryPoint(name)), name);
      assert.equal(environment.POWERTOOLS_SERVICE_NAME, 'kiln', name);
      assert.equal(environment.POWERTOOLS_LOG_LEVEL, 'INFO', name);
      assert.equal(environment.NODE_OPTIONS, '--enable-source-maps', name);
    }
    // An API function that reads records cannot start a workflow, launch or route anything: it is not told how.
    assert.deepEqual(
      Object.keys(environmentOf('getEnvironment')).filter((k) => k.startsWith('KILN_')),
      ['KILN_TABLE_NAME'],
    );
    assert.equal(environmentOf('ProvisionStack').KILN_INSTANCE_PORT, '8080');
    assert.equal(environmentOf('ProvisionStack').KILN_DEFAULT_INSTANCE_TYPE, 't4g.small');
  });

  it('point the environment at the stack resources', () => {
    const { stack } = kiln();
    const environment = { ...environmentOf('putEnvironment'), ...environmentOf('ProvisionStack') };
    assert.deepEqual(environment.KILN_TABLE_NAME, { Ref: logicalIdOf(stack, stack.table.table) });
    assert.deepEqual(environment.KILN_EVENT_BUS_NAME, { Ref: logicalIdOf(stack, stack.events.bus) });
    assert.deepEqual(environment.KILN_LISTENER_ARN, { Ref: logicalIdOf(stack, stack.network.listener) });
    assert.deepEqual(environment.KILN_LAUNCH_TEMPLATE_ID, {
      Ref: logicalIdOf(stack, stack.network.launchTemplate),
    });
    assert.deepEqual(environment.KILN_ENDPOINT_DOMAIN, {
      'Fn::GetAtt': [logicalIdOf(stack, stack.network.loadBalancer), 'DNSName'],
    });
    assert.deepEqual(environment.KILN_SECURITY_GROUP_IDS, {
      'Fn::GetAtt': [logicalIdOf(stack, stack.network.instanceSecurityGroup), 'GroupId'],
    });
    // Two private subnets, comma-separated.
    const subnets = JSON.stringify(environment.KILN_SUBNET_IDS);
    assert.equal((subnets.match(/instancesSubnet/g) ?? []).length, 2, subnets);
  });

  it('give each composition root a configuration its port readers accept', () => {
    const readers = {
      store: readStoreConfig,
      workflows: readWorkflowsConfig,
      compute: readComputeConfig,
      traffic: readTrafficConfig,
      events: readEventsConfig,
      pushQueue: readPushQueueConfig,
      secrets: readSecretsConfig,
      hooks: () => ({}),
    };
    for (const name of kiln().stack.functions.byName.keys()) {
      const asStrings = Object.fromEntries(
        Object.entries(environmentOf(name)).map(([key, value]) => [
          key,
          typeof value === 'string' ? value : `resolved-${key}`,
        ]),
      );
      for (const port of ROOT_PORTS[entryPoint(name).root])
        assert.doesNotThrow(() => readers[port](asStrings), `${name}.${port}`);
    }
  });

  it('give API handlers the 29 s integration timeout, tasks their Task state timeouts, event handlers theirs', () => {
    const longest = new Map<string, number>();
    for (const { path } of workflowFiles()) {
      for (const task of taskStates(loadDefinition(path))) {
        const name = functionNameOf(task.resource);
        const seconds = task.callback
          ? CALLBACK_FUNCTION_TIMEOUT_SECONDS
          : (task.timeoutSeconds ?? Number.POSITIVE_INFINITY);
        longest.set(name, Math.max(longest.get(name) ?? 0, seconds));
      }
    }
    for (const { entry } of handlerModules()) {
      const timeout = functionProperties(entry.name).Timeout as number;
      if (entry.timeoutSeconds !== undefined) assert.equal(timeout, entry.timeoutSeconds, entry.name);
      else if (entry.trigger.type === 'http') assert.equal(timeout, 29, entry.name);
      else if (entry.trigger.type !== 'task')
        assert.equal(timeout, EVENT_HANDLER_TIMEOUT_SECONDS, entry.name);
      else {
        const asl = longest.get(entry.name);
        assert.ok(asl !== undefined && timeout >= asl, `${entry.name}: ${timeout}s < Task timeout ${asl}s`);
      }
    }
    assert.equal(functionProperties('DrainStack').Timeout, 30, 'a drain waits in Wait states, not in Lambda');
    assert.equal(functionProperties('reapOrphans').Timeout, EVENT_HANDLER_TIMEOUT_SECONDS);
  });

  it('log to their own log group with bounded retention', () => {
    const { stack, template } = kiln();
    const logGroups = resourcesOf(template, 'AWS::Logs::LogGroup');
    const seen = new Set<string>();
    for (const name of stack.functions.byName.keys()) {
      const logGroup = (functionProperties(name).LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;
      assert.ok(!seen.has(logGroup), `${name} shares a log group`);
      seen.add(logGroup);
      assert.ok(Number(logGroups[logGroup].Properties.RetentionInDays) > 0, `${name} keeps logs forever`);
    }
  });

  it('use no AWS managed policy (each role writes only to its own log group)', () => {
    const { stack, template } = kiln();
    const roles = resourcesOf(template, 'AWS::IAM::Role');
    for (const [name, fn] of stack.functions.byName) {
      const role = roles[logicalIdOf(stack, fn.role ?? fn)];
      assert.equal(role.Properties.ManagedPolicyArns, undefined, name);
    }
  });
});

describe('handler bundles', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-bundle-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('are minified ES modules with the createRequire banner, as the functions build them', () => {
    assert.equal(HANDLER_BUNDLE.format, 'esm');
    assert.equal(HANDLER_BUNDLE.minify, true);
    assert.equal(HANDLER_BUNDLE.sourcemap, true);
    assert.deepEqual(
      HANDLER_BUNDLE.external,
      [],
      'the AWS SDK is bundled (tree-shaken), not taken from the runtime',
    );
    assert.match(HANDLER_BUNDLE.banner, /createRequire\(import\.meta\.url\)/);
  });

  it("keep Kiln's error class names, which the state machines' Retry and Catch match", async () => {
    const { banner, mainFields, external, ...options } = HANDLER_BUNDLE;
    const outfile = join(dir, 'errors.mjs');
    buildSync({
      ...options,
      banner: { js: banner },
      mainFields: [...mainFields],
      external: [...external],
      bundle: true,
      stdin: { contents: "export * from './functions/core/errors.ts';", resolveDir: ROOT, loader: 'ts' },
      outfile,
    });
    const errors = (await import(pathToFileURL(outfile).href)) as Record<string, new (m: string) => Error>;
    assert.ok(Object.keys(errors).length >= 10);
    for (const [exported, ErrorClass] of Object.entries(errors)) {
      assert.equal(new ErrorClass('m').name, exported);
    }
  });

  it('load in Node as ES modules exporting handler, built by the same esbuild run as the functions', async () => {
    const modules = handlerModules().filter(({ entry }) =>
      ['getEnvironment', 'AcquireLease'].includes(entry.name),
    );
    assert.equal(modules.length, 2);
    bundleHandlers(dir, modules);
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    for (const { entry } of modules) {
      const outfile = join(dir, entry.name, 'index.mjs');
      assert.ok(readFileSync(outfile, 'utf8').startsWith(HANDLER_BUNDLE.banner), entry.name);
      assert.ok(
        readFileSync(`${outfile}.map`, 'utf8').includes('"sources"'),
        `${entry.name} has a source map`,
      );
      const loaded = (await import(pathToFileURL(outfile).href)) as { handler?: unknown };
      assert.equal(typeof loaded.handler, 'function', entry.name);
    }
  });

  it('each carry the composition root the manifest names and no other (so only its ports’ clients), and no answer schema', () => {
    const metafile = bundleHandlers(join(dir, 'all'));
    const roots = Object.keys(ROOT_PORTS);
    for (const { entry } of handlerModules()) {
      const output = Object.entries(metafile.outputs).find(([path]) =>
        path.endsWith(`${entry.name}/index.mjs`),
      )?.[1];
      assert.ok(output, entry.name);
      const carried = roots.filter((root) =>
        Object.keys(output.inputs).some((input) => input.endsWith(`functions/shared/roots/${root}.ts`)),
      );
      assert.deepEqual(carried, [entry.root], `${entry.name} bundles the roots ${carried.join(', ')}`);
      // views.ts takes only the answer schemas' types: the schemas are for the OpenAPI document.
      assert.ok(
        !Object.keys(output.inputs).some((input) => input.endsWith('functions/shared/answer-schemas.ts')),
        `${entry.name} carries the answer schemas`,
      );
      const clients = [
        'client-ec2',
        'client-elastic-load-balancing-v2',
        'client-sfn',
        'client-eventbridge',
        'client-sqs',
        'client-secrets-manager',
        'client-lambda',
      ].filter((client) => Object.keys(output.inputs).some((input) => input.includes(`@aws-sdk/${client}/`)));
      const expected = {
        compute: 'client-ec2',
        traffic: 'client-elastic-load-balancing-v2',
        workflows: 'client-sfn',
        events: 'client-eventbridge',
        pushQueue: 'client-sqs',
        secrets: 'client-secrets-manager',
        hooks: 'client-lambda',
      };
      assert.deepEqual(
        clients.sort(),
        ROOT_PORTS[entry.root].flatMap((port) => (port === 'store' ? [] : [expected[port]])).sort(),
        `${entry.name} carries the clients of its ports only`,
      );
    }
  });
});
