import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import {
  createTableInput,
  INDEXES,
  PARTITION_KEY,
  SORT_KEY,
  TTL_ATTRIBUTE,
} from '../../functions/adapters/aws/table.ts';

/** What a function may do with the table. */
export type TableAccess = 'read' | 'readWrite';

/**
 * DynamoDB actions behind each command the store (functions/adapters/aws/dynamodb-store.ts) sends.
 * Grants list these and nothing else; a test fails when the store starts sending a command missing here.
 */
export const STORE_COMMAND_ACTIONS: Readonly<Record<string, { action: string; access: TableAccess }>> = {
  GetCommand: { action: 'dynamodb:GetItem', access: 'read' },
  QueryCommand: { action: 'dynamodb:Query', access: 'read' },
  PutCommand: { action: 'dynamodb:PutItem', access: 'readWrite' },
  UpdateCommand: { action: 'dynamodb:UpdateItem', access: 'readWrite' },
  DeleteCommand: { action: 'dynamodb:DeleteItem', access: 'readWrite' },
};

/**
 * Kiln's single table, built from the same layout constants the store uses (functions/adapters/aws/table.ts),
 * so keys, the team index and the TTL attribute cannot drift between production and local runs.
 *
 * Encryption: the AWS managed key (`aws/dynamodb`). Items are Kiln's control-plane records; who may read
 * them is decided by IAM on the table, which every function gets least-privilege. A customer managed
 * key would add a key policy to own, a monthly cost and a failure mode (a disabled or deleted key makes
 * the table and its PITR restores unreadable) without narrowing who can read anything today. Switch to
 * `TableEncryption.CUSTOMER_MANAGED` when key-policy separation or crypto-shredding becomes a requirement.
 */
export class KilnTable extends Construct {
  readonly table: Table;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const layout = createTableInput('kiln');
    const attributeType = (name: string): AttributeType => {
      const definition = layout.AttributeDefinitions?.find((a) => a.AttributeName === name);
      if (definition?.AttributeType !== 'S') {
        throw new Error(
          `table layout: attribute ${name} must be a string key (found ${definition?.AttributeType})`,
        );
      }
      return AttributeType.STRING;
    };

    this.table = new Table(this, 'Table', {
      partitionKey: { name: PARTITION_KEY, type: attributeType(PARTITION_KEY) },
      sortKey: { name: SORT_KEY, type: attributeType(SORT_KEY) },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      timeToLiveAttribute: TTL_ATTRIBUTE,
      deletionProtection: true,
      // The table is the record of every environment, deployment and audit event: never deleted with the stack.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    for (const index of INDEXES) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: { name: index.partitionKey, type: attributeType(index.partitionKey) },
        sortKey: { name: index.sortKey, type: attributeType(index.sortKey) },
        projectionType: ProjectionType.ALL,
      });
    }
  }

  /**
   * Grants exactly the store's actions for `access`: on the table, and Query on its indexes by name
   * (no `index/*` wildcard).
   */
  grant(grantee: IGrantable, access: TableAccess): void {
    const actions = Object.values(STORE_COMMAND_ACTIONS)
      .filter((command) => access === 'readWrite' || command.access === 'read')
      .map((command) => command.action);
    const indexArns = INDEXES.map((index) =>
      Stack.of(this).formatArn({
        service: 'dynamodb',
        resource: 'table',
        resourceName: `${this.table.tableName}/index/${index.name}`,
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions, resources: [this.table.tableArn] }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['dynamodb:Query'], resources: indexArns }),
    );
  }
}
