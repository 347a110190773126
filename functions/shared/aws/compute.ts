import { EC2Client } from '@aws-sdk/client-ec2';
import { Ec2Compute } from '../../adapters/aws/ec2-compute.ts';
import type { Compute } from '../../core/ports/compute.ts';
import { readComputeConfig } from '../config.ts';

/** EC2 instances launched from the configured launch template. */
export function buildAwsCompute(config = readComputeConfig(), client = new EC2Client({})): Compute {
  return new Ec2Compute({
    client,
    launchTemplateId: config.launchTemplateId,
    subnetIds: config.subnetIds,
    securityGroupIds: config.securityGroupIds,
    instancePort: config.instancePort,
    defaultInstanceType: config.defaultInstanceType,
  });
}
