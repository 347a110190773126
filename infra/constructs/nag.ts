import { Stack, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges cdk-nag's wildcard finding (AwsSolutions-IAM5) for exactly one resource ARN of the
 * policies under `scope`, never the rule as a whole: a new wildcard elsewhere still fails synth.
 */
export function acknowledgeWildcardResource(scope: IConstruct, resourceArn: string, reason: string): void {
  Validations.of(scope).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${nagReference(scope, resourceArn)}]`,
    reason,
  });
}

/**
 * A value as cdk-nag spells it in finding ids: `Ref`s as `<LogicalId>`, `Fn::GetAtt`s as
 * `<LogicalId.Attribute>`, `Fn::Join`s joined, anything else as JSON (cdk-nag's flattenCfnReference,
 * which the package does not export).
 */
export function nagReference(scope: IConstruct, value: unknown): string {
  return flatten(Stack.of(scope).resolve(value));
}

function flatten(node: unknown): string {
  if (node === undefined) return '';
  if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
  if (typeof node === 'object' && node !== null) {
    const record = node as Record<string, unknown>;
    if (record['Fn::Join']) {
      const [separator, items] = record['Fn::Join'] as [string, unknown[]];
      return items.map(flatten).join(separator);
    }
    if (record['Fn::Sub']) return flatten(record['Fn::Sub']);
    if (record['Fn::GetAtt']) {
      const [resource, attribute] = record['Fn::GetAtt'] as [unknown, unknown];
      return `<${flatten(resource)}.${flatten(attribute)}>`;
    }
    if (record['Fn::ImportValue']) return flatten(record['Fn::ImportValue']);
    if (record.Ref) return `<${flatten(record.Ref)}>`;
  }
  return JSON.stringify(node);
}
