import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import {
  createTableInput,
  INDEXES,
  PARTITION_KEY,
  SORT_KEY,
  TTL_ATTRIBUTE,
} from '../../functions/adapters/aws/table.ts';
import { entryPoint } from '../../functions/manifest.ts';
import { STORE_COMMAND_ACTIONS } from '../../infra/constructs/table.ts';
import { kiln, logicalIdOf, ROOT, resourcesOf } from './kiln-template.ts';

describe('table', () => {
  it('has the keys, the team, source, upkeep and live indexes, and attribute types the store creates locally', () => {
    const local = createTableInput('kiln');
    kiln().template.resourceCountIs('AWS::DynamoDB::Table', 1);
    kiln().template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
        { AttributeName: SORT_KEY, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayEquals(local.AttributeDefinitions ?? []),
      GlobalSecondaryIndexes: INDEXES.map((index) => ({
        IndexName: index.name,
        KeySchema: [
          { AttributeName: index.partitionKey, KeyType: 'HASH' },
          { AttributeName: index.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      })),
    });
  });

  it('is on-demand, with point-in-time recovery, KMS encryption and the TTL attribute', () => {
    kiln().template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      DeletionProtectionEnabled: true,
    });
  });

  it('outlives the stack', () => {
    kiln().template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });
});

describe('table grants', () => {
  it('cover every command the DynamoDB store sends', () => {
    const source = readFileSync(join(ROOT, 'functions/adapters/aws/dynamodb-store.ts'), 'utf8');
    const commands = new Set([...source.matchAll(/\bnew\s+([A-Z]\w+Command)\b/g)].map((match) => match[1]));
    assert.ok(commands.size > 0);
    for (const command of commands) {
      assert.ok(STORE_COMMAND_ACTIONS[command], `${command} has no IAM action in STORE_COMMAND_ACTIONS`);
    }
  });

  it('give read-only handlers no write action, table-less ones no table action, and name the indexes instead of index/*', () => {
    const { stack, template } = kiln();
    const writes = Object.values(STORE_COMMAND_ACTIONS)
      .filter((command) => command.access === 'readWrite')
      .map((command) => command.action);
    const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy'));
    for (const [name, fn] of stack.functions.byName) {
      const roleId = logicalIdOf(stack, fn.role ?? fn);
      const statements = policies
        .filter((policy) =>
          (policy.Properties.Roles as Array<{ Ref: string }>).some((role) => role.Ref === roleId),
        )
        .flatMap(
          (policy) =>
            (policy.Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> }).Statement,
        );
      const actions = new Set(statements.flatMap((statement) => [statement.Action].flat() as string[]));
      const canWrite = writes.some((action) => actions.has(action));
      const access = entryPoint(name).access.table;
      assert.equal(canWrite, access === 'readWrite', `${name} write access`);
      assert.equal(actions.has('dynamodb:Query'), access !== 'none', `${name} reads the table`);
      if (access === 'none')
        assert.ok(
          ![...actions].some((action) => action.startsWith('dynamodb:')),
          `${name} never touches the table`,
        );
      assert.ok(!JSON.stringify(statements).includes('/index/*'), `${name} is granted index/*`);
    }
  });
});
