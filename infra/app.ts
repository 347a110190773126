import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { KilnStack } from './kiln-stack.ts';

/**
 * The CDK app (`npx cdk synth`, `npx cdk deploy`). Context:
 * - `vpcId`: deploy into an existing VPC (looked up, so it needs credentials for the target account);
 * - `endpointDomain`: the domain environments are reached under (default: the ALB's DNS name).
 * The stack is bound to the CLI's region (profile or AWS_REGION; the CLI falls back to us-east-1), because
 * the ALB access-log bucket policy names that region's ELB log-delivery principal at synth.
 */
const app = new App();
const context = (key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  return typeof value === 'string' && value !== '' ? value : undefined;
};

new KilnStack(app, 'Kiln', {
  description: 'Kiln: provisioning backend for immutable stacks',
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  ...optional('vpcId', context('vpcId')),
  ...optional('endpointDomain', context('endpointDomain')),
});

// cdk-nag 3: AWS Solutions checks run as a validation plugin on every synth; an unacknowledged finding fails it.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}
