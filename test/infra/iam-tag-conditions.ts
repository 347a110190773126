/**
 * A checker over every IAM policy statement of a synthesized template: Kiln's EC2 and ELB mutations
 * must be bound to its management tag. It knows what each guarded action requires, expands wildcard
 * actions (`ec2:*`, `elasticloadbalancing:Modify*`, `*`) to the guarded actions they cover, and fails any
 * Allow statement that grants one without the required condition.
 */
import { MANAGED_TAG } from '../../functions/adapters/aws/tags.ts';

export interface TagConditionProblem {
  /** Logical id of the policy (or role/user/group holding it inline), with the statement's Sid. */
  where: string;
  action: string;
  problem: string;
}

interface Requirement {
  key: string;
  /** The condition must allow only these values (StringEquals). */
  values: readonly string[];
}

const REQUEST_TAG: Requirement = { key: `aws:RequestTag/${MANAGED_TAG.key}`, values: [MANAGED_TAG.value] };
const RESOURCE_TAG: Requirement = { key: `aws:ResourceTag/${MANAGED_TAG.key}`, values: [MANAGED_TAG.value] };

/** Resource types RunInstances creates: launching them must tag them. */
const LAUNCHED_TYPES = ['instance', 'volume', 'network-interface'];

/** Guarded actions and what each requires; `resourceTypes` limits a rule to statements that could cover them. */
const RULES: ReadonlyArray<{ action: string; requires: Requirement; resourceTypes?: string[] }> = [
  { action: 'ec2:RunInstances', requires: REQUEST_TAG, resourceTypes: LAUNCHED_TYPES },
  { action: 'ec2:CreateTags', requires: { key: 'ec2:CreateAction', values: ['RunInstances'] } },
  ...[
    'TerminateInstances',
    'StopInstances',
    'StartInstances',
    'RebootInstances',
    'ModifyInstanceAttribute',
  ].map((name) => ({ action: `ec2:${name}`, requires: RESOURCE_TAG })),
  { action: 'elasticloadbalancing:CreateTargetGroup', requires: REQUEST_TAG },
  { action: 'elasticloadbalancing:CreateRule', requires: REQUEST_TAG },
  {
    action: 'elasticloadbalancing:AddTags',
    requires: { key: 'elasticloadbalancing:CreateAction', values: ['CreateTargetGroup', 'CreateRule'] },
  },
  ...[
    'ModifyRule',
    'DeleteRule',
    'SetRulePriorities',
    'RegisterTargets',
    'DeregisterTargets',
    'ModifyTargetGroup',
    'ModifyTargetGroupAttributes',
    'DeleteTargetGroup',
    'RemoveTags',
    'CreateListener',
    'ModifyListener',
    'ModifyListenerAttributes',
    'DeleteListener',
    'AddListenerCertificates',
    'RemoveListenerCertificates',
    'ModifyLoadBalancerAttributes',
    'SetSecurityGroups',
    'SetSubnets',
    'SetIpAddressType',
    'DeleteLoadBalancer',
  ].map((name) => ({ action: `elasticloadbalancing:${name}`, requires: RESOURCE_TAG })),
];

/** Every problem in the template; empty means every guarded grant carries its tag condition. */
export function checkTagConditions(template: { Resources?: Record<string, unknown> }): TagConditionProblem[] {
  const problems: TagConditionProblem[] = [];
  for (const [logicalId, value] of Object.entries(template.Resources ?? {})) {
    for (const [where, document] of policyDocuments(logicalId, value as CfnResource)) {
      for (const [index, statement] of statementsOf(document).entries()) {
        problems.push(...checkStatement(`${where} statement ${statement.Sid ?? index}`, statement));
      }
    }
  }
  return problems;
}

interface CfnResource {
  Type?: string;
  Properties?: Record<string, unknown>;
}

interface Statement {
  Sid?: string;
  Effect?: string;
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: unknown;
  NotResource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

function policyDocuments(logicalId: string, resource: CfnResource): Array<[string, unknown]> {
  const properties = resource.Properties ?? {};
  switch (resource.Type) {
    case 'AWS::IAM::Policy':
    case 'AWS::IAM::ManagedPolicy':
      return [[logicalId, properties.PolicyDocument]];
    case 'AWS::IAM::Role':
    case 'AWS::IAM::User':
    case 'AWS::IAM::Group':
      return ((properties.Policies ?? []) as Array<{ PolicyName?: unknown; PolicyDocument?: unknown }>).map(
        (policy) => [`${logicalId} inline ${String(policy.PolicyName)}`, policy.PolicyDocument],
      );
    default:
      return [];
  }
}

function statementsOf(document: unknown): Statement[] {
  const statements = (document as { Statement?: Statement | Statement[] } | undefined)?.Statement ?? [];
  return Array.isArray(statements) ? statements : [statements];
}

function checkStatement(where: string, statement: Statement): TagConditionProblem[] {
  if (statement.Effect !== 'Allow') return [];
  const problems: TagConditionProblem[] = [];
  const resources =
    statement.NotResource !== undefined ? ['*'] : asArray(statement.Resource).map(flattenResource);
  for (const rule of RULES) {
    if (!grants(statement, rule.action)) continue;
    if (rule.resourceTypes && !rule.resourceTypes.some((type) => resources.some((r) => mayCover(r, type)))) {
      continue;
    }
    const missing = missingCondition(statement.Condition, rule.requires);
    if (missing) problems.push({ where, action: rule.action, problem: missing });
  }
  return problems;
}

/** Whether the statement's Action (or NotAction, which allows everything it does not name) covers `action`. */
function grants(statement: Statement, action: string): boolean {
  if (statement.NotAction !== undefined) {
    return !asArray(statement.NotAction).some((pattern) => globMatches(String(pattern), action));
  }
  return asArray(statement.Action).some((pattern) => globMatches(String(pattern), action));
}

/** A resource pattern could name a resource of this EC2 type (tokens count as anything). */
function mayCover(resource: string, type: string): boolean {
  const sample = `arn:aws:ec2:us-east-1:123456789012:${type}/${type}-0123456789abcdef0`;
  return globMatches(resource.replace(/<[^>]*>/g, '*'), sample);
}

function missingCondition(condition: Statement['Condition'], requirement: Requirement): string | undefined {
  const expected = `StringEquals ${requirement.key} = ${requirement.values.join(' | ')}`;
  const stringEquals = condition?.StringEquals;
  const entry = Object.entries(stringEquals ?? {}).find(
    ([key]) => key.toLowerCase() === requirement.key.toLowerCase(),
  );
  if (!entry) return `allowed without the condition ${expected}`;
  const values = asArray(entry[1]).map(String);
  const unexpected = values.filter((value) => !requirement.values.includes(value));
  if (values.length === 0 || unexpected.length > 0) {
    return `condition ${requirement.key} allows ${values.join(', ') || 'nothing'}, expected ${expected}`;
  }
  return undefined;
}

/** IAM wildcards: `*` any run of characters, `?` one; action names compare case-insensitively. */
function globMatches(pattern: string, value: string): boolean {
  const regex = pattern
    .split('')
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${regex}$`, 'i').test(value);
}

/** A resource as a string; intrinsic functions become `<...>`, which matches anything. */
function flattenResource(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    if (Array.isArray(record['Fn::Join'])) {
      const [separator, parts] = record['Fn::Join'] as [string, unknown[]];
      return parts.map(flattenResource).join(separator);
    }
  }
  return '<intrinsic>';
}

function asArray(value: unknown): unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
