import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { buildSync } from 'esbuild';
import { functionNameOf, loadDefinition, taskStates } from '../../functions/asl.ts';
import { readAwsConfig } from '../../functions/shared/config.ts';
import { routes } from '../../functions/shared/routes.ts';
import {
  bundleHandlers,
  HANDLER_ACCESS,
  HANDLER_BUNDLE,
  handlerModules,
} from '../../infra/constructs/functions.ts';
import { workflowFiles } from '../../infra/constructs/workflows.ts';
import { functionIds, kiln, logicalIdOf, ROOT, resourcesOf } from './kiln-template.ts';

const TASKS_DIR = join(ROOT, 'functions/handlers/tasks');

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
  it('exist once per route handler and once per task module', () => {
    const expected = [
      ...routes.map((route) => route.handler),
      ...readdirSync(TASKS_DIR)
        .filter((file) => file.endsWith('.ts'))
        .map((file) => file.replace(/\.ts$/, '')),
    ].sort();
    assert.equal(expected.length, 19);
    assert.deepEqual([...kiln().stack.functions.byName.keys()].sort(), expected);
    assert.deepEqual(Object.keys(HANDLER_ACCESS).sort(), expected);
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

  it('all get the environment the AWS composition root reads, and Powertools settings', () => {
    const { stack } = kiln();
    const first = environmentOf('listEnvironments');
    for (const name of stack.functions.byName.keys()) {
      assert.deepEqual(environmentOf(name), first, `${name} has a different environment`);
    }
    const configSource = readFileSync(join(ROOT, 'functions/shared/config.ts'), 'utf8');
    const read = new Set([...configSource.matchAll(/\bKILN_[A-Z_]+\b/g)].map((match) => match[0]));
    const set = Object.keys(first).filter((key) => key.startsWith('KILN_'));
    assert.deepEqual(set.sort(), [...read].sort());
    assert.equal(first.POWERTOOLS_SERVICE_NAME, 'kiln');
    assert.equal(first.POWERTOOLS_LOG_LEVEL, 'INFO');
    assert.equal(first.NODE_OPTIONS, '--enable-source-maps');
    assert.equal(first.KILN_INSTANCE_PORT, '8080');
    assert.equal(first.KILN_DEFAULT_INSTANCE_TYPE, 't4g.small');
  });

  it('point the environment at the stack resources', () => {
    const { stack } = kiln();
    const environment = environmentOf('putEnvironment');
    assert.deepEqual(environment.KILN_TABLE_NAME, { Ref: logicalIdOf(stack, stack.table.table) });
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

  it('give the composition root a configuration it accepts', () => {
    const environment = environmentOf('CutOver');
    const asStrings = Object.fromEntries(
      Object.entries(environment).map(([key, value]) => [
        key,
        typeof value === 'string' ? value : `resolved-${key}`,
      ]),
    );
    const config = readAwsConfig(asStrings);
    assert.equal(config.instancePort, 8080);
    assert.equal(config.defaultInstanceType, 't4g.small');
  });

  it('give API handlers the 29 s integration timeout and tasks their Task state timeouts', () => {
    const longest = new Map<string, number>();
    for (const { path } of workflowFiles()) {
      for (const task of taskStates(loadDefinition(path))) {
        const name = functionNameOf(task.resource);
        longest.set(name, Math.max(longest.get(name) ?? 0, task.timeoutSeconds ?? Number.POSITIVE_INFINITY));
      }
    }
    for (const module of handlerModules()) {
      const timeout = functionProperties(module.name).Timeout as number;
      if (module.kind === 'api') assert.equal(timeout, 29, module.name);
      else {
        const asl = longest.get(module.name);
        assert.ok(asl !== undefined && timeout >= asl, `${module.name}: ${timeout}s < Task timeout ${asl}s`);
      }
    }
    assert.equal(functionProperties('DrainStack').Timeout, 360);
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
    const modules = handlerModules().filter((module) =>
      ['getEnvironment', 'AcquireLease'].includes(module.name),
    );
    assert.equal(modules.length, 2);
    bundleHandlers(dir, modules);
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    for (const module of modules) {
      const outfile = join(dir, module.name, 'index.mjs');
      assert.ok(readFileSync(outfile, 'utf8').startsWith(HANDLER_BUNDLE.banner), module.name);
      assert.ok(
        readFileSync(`${outfile}.map`, 'utf8').includes('"sources"'),
        `${module.name} has a source map`,
      );
      const loaded = (await import(pathToFileURL(outfile).href)) as { handler?: unknown };
      assert.equal(typeof loaded.handler, 'function', module.name);
    }
  });
});
