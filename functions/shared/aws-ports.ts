import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { Ec2Compute } from '../adapters/aws/ec2-compute.ts';
import { ElbTraffic } from '../adapters/aws/elb-traffic.ts';
import type { Ports } from '../core/ports/index.ts';
import { type AwsRequestClients, buildAwsRequestClients, buildAwsRequestPorts } from './aws-request-ports.ts';
import type { AwsConfig, AwsResourcesConfig } from './config.ts';

/** One SDK client per service Kiln calls (same endpoint rules as buildAwsRequestClients). */
export interface AwsClients extends AwsRequestClients {
  ec2: EC2Client;
  elb: ElasticLoadBalancingV2Client;
}

export function buildAwsClients(): AwsClients {
  return { ...buildAwsRequestClients(), ec2: new EC2Client({}), elb: new ElasticLoadBalancingV2Client({}) };
}

/** The AWS adapters behind every port, sharing one client per service. */
export function buildAwsPorts(config: Readonly<AwsConfig>, clients: AwsClients = buildAwsClients()): Ports {
  return { ...buildAwsRequestPorts(config, clients), ...buildAwsComputeAndTraffic(config, clients) };
}

/** EC2 instances and the ALB: shared by Lambda and hybrid mode (which runs workflows embedded). */
export function buildAwsComputeAndTraffic(
  config: Readonly<AwsResourcesConfig>,
  clients: Pick<AwsClients, 'ec2' | 'elb'>,
): Pick<Ports, 'compute' | 'traffic'> {
  return {
    compute: new Ec2Compute({
      client: clients.ec2,
      launchTemplateId: config.launchTemplateId,
      subnetIds: config.subnetIds,
      securityGroupIds: config.securityGroupIds,
      instancePort: config.instancePort,
      defaultInstanceType: config.defaultInstanceType,
    }),
    traffic: new ElbTraffic({
      client: clients.elb,
      listenerArn: config.listenerArn,
      vpcId: config.vpcId,
      endpointDomain: config.endpointDomain,
      instancePort: config.instancePort,
    }),
  };
}
