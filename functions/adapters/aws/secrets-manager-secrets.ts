import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { KilnError } from '../../core/errors.ts';
import type { Secrets } from '../../core/ports/secrets.ts';

/** Kiln's secret could not be read or does not hold what Kiln needs. Its message never holds the secret. */
export class SecretUnavailableError extends KilnError {}

export interface SecretsManagerSecretsOptions {
  client: SecretsManagerClient;
  /**
   * The ARN of the secret holding the GitHub webhook secret (KILN_GITHUB_WEBHOOK_SECRET_ARN; the CDK app
   * grants secretsmanager:GetSecretValue on it).
   */
  githubWebhookSecretArn: string;
}

/** What the secret's SecretString holds: JSON, one key per edge secret. */
interface EdgeSecrets {
  github: string;
}

/**
 * Kiln's edge secrets from one Secrets Manager secret, read once per process (one GetSecretValue per
 * Lambda instance, however many deliveries it serves) and kept in memory.
 *
 * The SecretString is a JSON object, `{"github": "<webhook secret>"}`: the console's key/value editor
 * writes that form, and another edge's secret becomes another key rather than another secret to grant.
 * A plain string is refused, as anything else is (SecretBinary, JSON without a non-empty `github`):
 * guessing would let a misconfigured secret pass for a webhook secret.
 *
 * A failed read is not kept: the next call reads again. A rotated secret is seen by new Lambda
 * instances only (GitHub signs with one secret at a time, so rotate with the webhook's deliveries paused
 * or redeliver those that failed).
 */
export class SecretsManagerSecrets implements Secrets {
  readonly #client: SecretsManagerClient;
  readonly #secretId: string;
  #secrets: Promise<EdgeSecrets> | undefined;

  constructor(options: SecretsManagerSecretsOptions) {
    this.#client = options.client;
    this.#secretId = options.githubWebhookSecretArn;
  }

  async githubWebhookSecret(): Promise<string> {
    return (await this.#read()).github;
  }

  #read(): Promise<EdgeSecrets> {
    if (!this.#secrets) {
      const reading = this.#fetch();
      this.#secrets = reading;
      reading.catch(() => {
        if (this.#secrets === reading) this.#secrets = undefined;
      });
    }
    return this.#secrets;
  }

  async #fetch(): Promise<EdgeSecrets> {
    let secretString: string | undefined;
    try {
      ({ SecretString: secretString } = await this.#client.send(
        new GetSecretValueCommand({ SecretId: this.#secretId }),
      ));
    } catch (error) {
      throw new SecretUnavailableError(
        `Kiln's secret ${this.#secretId} could not be read: ${(error as Error).name}: ${(error as Error).message}`,
        { cause: error },
      );
    }
    return parseEdgeSecrets(secretString, this.#secretId);
  }
}

function parseEdgeSecrets(secretString: string | undefined, secretId: string): EdgeSecrets {
  const expected = `Kiln's secret ${secretId} must hold a JSON object with a non-empty "github" string`;
  if (typeof secretString !== 'string')
    throw new SecretUnavailableError(`${expected}; it has no SecretString`);
  let value: unknown;
  try {
    value = JSON.parse(secretString);
  } catch {
    // Not the parser's message: it would quote the secret.
    throw new SecretUnavailableError(`${expected}; it is not JSON`);
  }
  const github = (value as { github?: unknown } | null)?.github;
  if (typeof value !== 'object' || Array.isArray(value) || typeof github !== 'string' || github === '') {
    throw new SecretUnavailableError(`${expected}; it has none`);
  }
  return { github };
}
