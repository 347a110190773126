import { Validations } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/**
 * The secrets of Kiln's edges. The GitHub webhook secret is generated here (40 random characters, as
 * JSON `{"github": "…"}`, the shape SecretsManagerSecrets reads); every repository webhook is given
 * that value (see the README), and GitHub signs each delivery with it. Read by the webhook function only.
 */
export class KilnSecrets extends Construct {
  readonly githubWebhook: Secret;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.githubWebhook = new Secret(this, 'GitHubWebhook', {
      description: 'Kiln: the secret GitHub signs webhook deliveries with (X-Hub-Signature-256)',
      generateSecretString: {
        secretStringTemplate: '{}',
        generateStringKey: 'github',
        passwordLength: 40,
        excludePunctuation: true,
      },
    });
    Validations.of(this.githubWebhook).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'A webhook secret rotates only together with the setting of every GitHub repository webhook that signs with it, which no rotation Lambda can change; rotate it by hand, following the README.',
    });
  }
}
