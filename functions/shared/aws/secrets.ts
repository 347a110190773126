import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretsManagerSecrets } from '../../adapters/aws/secrets-manager-secrets.ts';
import type { Secrets } from '../../core/ports/secrets.ts';
import { readSecretsConfig } from '../config.ts';

/** The secrets KILN_GITHUB_WEBHOOK_SECRET_ARN names, read once per process. */
export function buildAwsSecrets(
  config = readSecretsConfig(),
  client = new SecretsManagerClient({}),
): Secrets {
  return new SecretsManagerSecrets({ client, githubWebhookSecretArn: config.githubWebhookSecretArn });
}
