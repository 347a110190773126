import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import { inspect } from 'node:util';
import {
  GetSecretValueCommand,
  SecretsManagerClient,
  SecretsManagerServiceException,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import {
  SecretsManagerSecrets,
  SecretUnavailableError,
} from '../../functions/adapters/aws/secrets-manager-secrets.ts';
import { EnvSecrets } from '../../functions/adapters/local/env-secrets.ts';

const secretsManager = mockClient(SecretsManagerClient);
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:kiln/edge-AbCdEf';
const WEBHOOK_SECRET = 'whsec-5b0e7c1f9a2d4e6b';

beforeEach(() => secretsManager.reset());

function newSecrets(): SecretsManagerSecrets {
  return new SecretsManagerSecrets({
    client: new SecretsManagerClient({ region: 'eu-west-1' }),
    githubWebhookSecretArn: SECRET_ARN,
  });
}

function secretStringIs(secretString: string | undefined): void {
  secretsManager
    .on(GetSecretValueCommand)
    .resolves({ ARN: SECRET_ARN, Name: 'kiln/edge', SecretString: secretString });
}

function getSecretValueCalls() {
  return secretsManager.commandCalls(GetSecretValueCommand).map((call) => call.args[0].input);
}

describe('SecretsManagerSecrets', () => {
  it('reads the GitHub webhook secret from the JSON secret once per process', async () => {
    secretStringIs(JSON.stringify({ github: WEBHOOK_SECRET, gitlab: 'other-edge' }));
    const secrets = newSecrets();

    const concurrent = await Promise.all([secrets.githubWebhookSecret(), secrets.githubWebhookSecret()]);
    const later = await secrets.githubWebhookSecret();

    assert.deepEqual([...concurrent, later], [WEBHOOK_SECRET, WEBHOOK_SECRET, WEBHOOK_SECRET]);
    assert.deepEqual(getSecretValueCalls(), [{ SecretId: SECRET_ARN }]);
  });

  it('does not keep a failed read: the next call reads again', async () => {
    secretsManager
      .on(GetSecretValueCommand)
      .rejectsOnce(
        new SecretsManagerServiceException({
          name: 'ResourceNotFoundException',
          $fault: 'client',
          $metadata: {},
          message: "Secrets Manager can't find the specified secret.",
        }),
      )
      .resolves({ SecretString: JSON.stringify({ github: WEBHOOK_SECRET }) });
    const secrets = newSecrets();

    const error = await secrets.githubWebhookSecret().then(
      () => assert.fail('the read should fail'),
      (caught: unknown) => caught,
    );
    assert.ok(error instanceof SecretUnavailableError);
    assert.match(error.message, /kiln\/edge-AbCdEf could not be read: ResourceNotFoundException/);
    assert.equal((error.cause as Error).name, 'ResourceNotFoundException');

    assert.equal(await secrets.githubWebhookSecret(), WEBHOOK_SECRET);
    assert.equal(getSecretValueCalls().length, 2);
  });

  for (const [what, secretString] of [
    ['a plain string', WEBHOOK_SECRET],
    ['JSON without github', JSON.stringify({ gitHub: WEBHOOK_SECRET })],
    ['an empty github secret', JSON.stringify({ github: '' })],
    ['a github secret that is not a string', JSON.stringify({ github: 12345 })],
    ['a JSON string', JSON.stringify(WEBHOOK_SECRET)],
    ['a JSON array', JSON.stringify([WEBHOOK_SECRET])],
    ['JSON null', 'null'],
    ['no SecretString (a binary secret)', undefined],
  ] as const) {
    it(`refuses ${what}, saying what it must hold and never what it holds`, async () => {
      secretStringIs(secretString);
      const error = await newSecrets()
        .githubWebhookSecret()
        .then(
          () => assert.fail('the secret should be refused'),
          (caught: unknown) => caught as Error,
        );
      assert.ok(error instanceof SecretUnavailableError);
      assert.match(error.message, /must hold a JSON object with a non-empty "github" string/);
      assert.ok(!error.message.includes(WEBHOOK_SECRET), error.message);
      assert.ok(!inspect(error).includes(WEBHOOK_SECRET));
    });
  }

  it('does not show the secret it keeps when logged', async () => {
    secretStringIs(JSON.stringify({ github: WEBHOOK_SECRET }));
    const secrets = newSecrets();
    await secrets.githubWebhookSecret();
    assert.ok(!inspect(secrets, { depth: 5, showHidden: true }).includes(WEBHOOK_SECRET));
    assert.ok(!JSON.stringify(secrets).includes(WEBHOOK_SECRET));
  });
});

describe('EnvSecrets', () => {
  it('gives the GitHub webhook secret it was built with', async () => {
    assert.equal(await new EnvSecrets({ github: WEBHOOK_SECRET }).githubWebhookSecret(), WEBHOOK_SECRET);
  });

  it('refuses an empty or missing secret when built', () => {
    assert.throws(() => new EnvSecrets({ github: '' }), TypeError);
    assert.throws(() => new EnvSecrets({} as { github: string }), TypeError);
  });

  it('does not show the secret when logged', () => {
    const secrets = new EnvSecrets({ github: WEBHOOK_SECRET });
    assert.ok(!inspect(secrets, { depth: 5, showHidden: true }).includes(WEBHOOK_SECRET));
    assert.ok(!JSON.stringify(secrets).includes(WEBHOOK_SECRET));
  });
});
