import { EC2Client } from '@aws-sdk/client-ec2';
import { Ec2Compute } from '../adapters/aws/ec2-compute.ts';
import type { Compute } from '../core/ports/compute.ts';
import type { Ports } from '../core/ports/index.ts';
import { type AwsTrafficClients, buildAwsTrafficClients, buildAwsTrafficPorts } from './aws-traffic-ports.ts';
import type { AwsConfig, AwsResourcesConfig } from './config.ts';

/** One SDK client per service Kiln calls. */
export interface AwsClients extends AwsTrafficClients {
  ec2: EC2Client;
}

/** Same endpoint rules as buildAwsRequestClients. */
export function buildAwsClients(): AwsClients {
  return { ...buildAwsTrafficClients(), ec2: new EC2Client({}) };
}

/** The AWS adapters behind every port, sharing one client per service. */
export function buildAwsPorts(config: Readonly<AwsConfig>, clients: AwsClients = buildAwsClients()): Ports {
  return { ...buildAwsTrafficPorts(config, clients), compute: buildAwsCompute(config, clients.ec2) };
}

/** EC2 instances launched from the configured launch template. */
export function buildAwsCompute(config: Readonly<AwsResourcesConfig>, client: EC2Client): Compute {
  return new Ec2Compute({
    client,
    launchTemplateId: config.launchTemplateId,
    subnetIds: config.subnetIds,
    securityGroupIds: config.securityGroupIds,
    instancePort: config.instancePort,
    defaultInstanceType: config.defaultInstanceType,
  });
}
