import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ENTRY_POINTS, PUSH_QUEUE } from '../../functions/manifest.ts';
import { isDashboardPath } from '../../infra/dashboard-assets.ts';
import { apiMethods, functionIds, kiln, logicalIdOf, resourcesOf } from './kiln-template.ts';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown };

/** Every IAM statement of each function's role, by entry point name. */
function statementsByFunction(): Map<string, Statement[]> {
  const { stack, template } = kiln();
  const policies = Object.values(resourcesOf(template, 'AWS::IAM::Policy'));
  const byFunction = new Map<string, Statement[]>();
  for (const [name, fn] of stack.functions.byName) {
    const roleId = logicalIdOf(stack, fn.role ?? fn);
    byFunction.set(
      name,
      policies
        .filter((policy) =>
          (policy.Properties.Roles as { Ref: string }[]).some((role) => role.Ref === roleId),
        )
        .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement),
    );
  }
  return byFunction;
}

const actionsOf = (statement: Statement) => [statement.Action].flat();

/**
 * Issue 8 on AWS: the webhook route open to GitHub (it checks the signature itself), the secret it reads,
 * the push queue only the edges send to, and the outputs an operator gives GitHub.
 */
describe('the Git push path on AWS', () => {
  it('generates the webhook secret, and only the webhook function may read it', () => {
    const { template } = kiln();
    const secrets = resourcesOf(template, 'AWS::SecretsManager::Secret');
    const [secretId, secret] = Object.entries(secrets)[0] ?? [];
    assert.equal(Object.keys(secrets).length, 1);
    assert.deepEqual(secret?.Properties.GenerateSecretString, {
      SecretStringTemplate: '{}',
      GenerateStringKey: 'github',
      PasswordLength: 40,
      ExcludePunctuation: true,
    });
    const readers = [...statementsByFunction()]
      .filter(([, statements]) =>
        statements.some((s) => actionsOf(s).includes('secretsmanager:GetSecretValue')),
      )
      .map(([name]) => name);
    assert.deepEqual(readers, ['githubWebhook']);
    const grant = statementsByFunction()
      .get('githubWebhook')
      ?.find((s) => actionsOf(s).includes('secretsmanager:GetSecretValue'));
    assert.deepEqual(grant?.Resource, { Ref: secretId }, 'that secret only');
  });

  it('lets only the edges send to the push queue, and nothing else send or receive there but its consumer', () => {
    const { stack, template } = kiln();
    const queue = stack.queues.get(PUSH_QUEUE)?.queue;
    assert.ok(queue);
    const queueArn = { 'Fn::GetAtt': [logicalIdOf(stack, queue), 'Arn'] };
    const senders: string[] = [];
    const receivers: string[] = [];
    for (const [name, statements] of statementsByFunction()) {
      for (const statement of statements) {
        const actions = actionsOf(statement);
        if (actions.includes('sqs:SendMessage')) {
          senders.push(name);
          assert.deepEqual(statement.Resource, queueArn, `${name} sends to the push queue only`);
        }
        if (actions.includes('sqs:ReceiveMessage')) receivers.push(name);
      }
    }
    assert.deepEqual(senders.sort(), ['enqueueCodeCommitPush', 'githubWebhook']);
    assert.deepEqual(receivers, ['ingestPushes']);
    const webhook = statementsByFunction().get('githubWebhook') ?? [];
    assert.ok(
      !webhook.some((s) => actionsOf(s).some((a) => /^(dynamodb|states|ec2|elasticloadbalancing):/.test(a))),
      'the webhook reaches no table, workflow, instance or load balancer: it checks and queues',
    );
    const webhookFunction = resourcesOf(template, 'AWS::Lambda::Function')[
      functionIds(stack).get('githubWebhook') ?? ''
    ];
    assert.ok(webhookFunction);
    const environment = (webhookFunction.Properties.Environment as { Variables: Record<string, unknown> })
      .Variables;
    assert.ok(environment.KILN_PUSH_QUEUE_URL && environment.KILN_GITHUB_WEBHOOK_SECRET_ARN);
    assert.equal(environment.KILN_TABLE_NAME, undefined, 'not even the table’s name');
  });

  it('routes POST /hooks/github to the webhook function without IAM auth, and says where to point GitHub', () => {
    const { stack, template } = kiln();
    const entry = ENTRY_POINTS.find((e) => e.name === 'githubWebhook');
    assert.ok(entry?.trigger.type === 'http' && entry.trigger.auth === 'none');
    // The other open methods: GET /openapi.json (test/infra/api.test.ts) and the dashboard's files
    // (test/infra/dashboard.test.ts).
    const methods = apiMethods().filter(
      ({ path, method, properties }) =>
        properties.AuthorizationType === 'NONE' && method === 'POST' && !isDashboardPath(path),
    );
    assert.equal(methods.length, 1);
    assert.ok(
      JSON.stringify(methods[0]?.properties.Integration).includes(
        functionIds(stack).get('githubWebhook') ?? '-',
      ),
    );
    const outputs = template.findOutputs('*');
    assert.match(JSON.stringify(outputs.GitHubWebhookUrl?.Value), /hooks\/github/);
    assert.ok(outputs.GitHubWebhookSecretArn, 'the secret’s ARN, to read the value GitHub is given');
  });
});
