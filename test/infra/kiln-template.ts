/**
 * The Kiln stack as template tests see it: the app of infra/app.ts (same cdk.json context, so the same
 * feature flags), with bundling skipped so a synth takes seconds, in the region the CLI falls back to.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, CfnElement, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { KilnStack, type KilnStackProps } from '../../infra/kiln-stack.ts';

export const ROOT = join(import.meta.dirname, '../..');

/** The context of cdk.json plus what makes template tests fast: no bundling. */
export function testApp(context: Record<string, unknown> = {}): App {
  const cdkJson = JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: object };
  return new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [], ...context } });
}

export function kilnStack(app: App = testApp(), props: KilnStackProps = {}): KilnStack {
  return new KilnStack(app, 'Kiln', { env: { region: 'us-east-1' }, ...props });
}

let cached: { stack: KilnStack; template: Template } | undefined;

/** One synthesized stack per test file (each file runs in its own process). */
export function kiln(): { stack: KilnStack; template: Template } {
  if (!cached) {
    const stack = kilnStack();
    cached = { stack, template: Template.fromStack(stack) };
  }
  return cached;
}

export interface CfnResource {
  Type: string;
  /** Always present here (empty when the template omits it). */
  Properties: Record<string, unknown>;
  [key: string]: unknown;
}

/** Resources of one type, by logical id. */
export function resourcesOf(template: Template, type: string): Record<string, CfnResource> {
  return Object.fromEntries(
    Object.entries(template.findResources(type) as Record<string, Partial<CfnResource>>).map(
      ([id, resource]) => [id, { ...resource, Type: type, Properties: resource.Properties ?? {} }],
    ),
  );
}

/** The logical id a `{ Ref }` or `{ Fn::GetAtt }` points at, if it is one. */
export function referencedId(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (typeof record.Ref === 'string') return record.Ref;
  if (Array.isArray(record['Fn::GetAtt'])) return String(record['Fn::GetAtt'][0]);
  return undefined;
}

/** Logical id of a construct's CloudFormation resource. */
export function logicalIdOf(stack: Stack, construct: IConstruct): string {
  const resource = construct instanceof CfnElement ? construct : construct.node.defaultChild;
  if (!(resource instanceof CfnElement))
    throw new Error(`${construct.node.path} has no CloudFormation resource`);
  return stack.getLogicalId(resource);
}

/** Handler module name → logical id of its Lambda function. */
export function functionIds(stack: KilnStack): Map<string, string> {
  return new Map([...stack.functions.byName].map(([name, fn]) => [name, logicalIdOf(stack, fn)]));
}

/** Full path of each API Gateway resource, by logical id. */
function resourcePaths(): Map<string, string> {
  const resources = resourcesOf(kiln().template, 'AWS::ApiGateway::Resource');
  const paths = new Map<string, string>();
  const pathOf = (id: string): string => {
    const cached = paths.get(id);
    if (cached) return cached;
    const properties = resources[id].Properties;
    const parent = referencedId(properties.ParentId);
    const parentPath = parent && resources[parent] ? pathOf(parent) : '';
    const path = `${parentPath}/${String(properties.PathPart)}`;
    paths.set(id, path);
    return path;
  };
  for (const id of Object.keys(resources)) pathOf(id);
  return paths;
}

/** Every method of the REST API: its HTTP method, full resource path and properties. */
export function apiMethods() {
  const paths = resourcePaths();
  return Object.values(resourcesOf(kiln().template, 'AWS::ApiGateway::Method')).map((method) => {
    const properties = method.Properties;
    return {
      method: String(properties.HttpMethod),
      path: paths.get(referencedId(properties.ResourceId) ?? '') ?? '/',
      properties,
    };
  });
}
