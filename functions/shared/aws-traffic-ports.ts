import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ElbTraffic } from '../adapters/aws/elb-traffic.ts';
import type { TrafficPorts } from '../core/ports/index.ts';
import type { Traffic } from '../core/ports/traffic.ts';
import { type AwsRequestClients, buildAwsRequestClients, buildAwsRequestPorts } from './aws-request-ports.ts';
import type { AwsConfig, AwsResourcesConfig } from './config.ts';

export interface AwsTrafficClients extends AwsRequestClients {
  elb: ElasticLoadBalancingV2Client;
}

/** Same endpoint rules as buildAwsRequestClients. */
export function buildAwsTrafficClients(): AwsTrafficClients {
  return { ...buildAwsRequestClients(), elb: new ElasticLoadBalancingV2Client({}) };
}

export function buildAwsTrafficPorts(
  config: Readonly<AwsConfig>,
  clients: AwsTrafficClients = buildAwsTrafficClients(),
): TrafficPorts {
  return { ...buildAwsRequestPorts(config, clients), traffic: buildAwsTraffic(config, clients.elb) };
}

/** The ALB listener carrying one host-header rule per environment. */
export function buildAwsTraffic(
  config: Readonly<AwsResourcesConfig>,
  client: ElasticLoadBalancingV2Client,
): Traffic {
  return new ElbTraffic({
    client,
    listenerArn: config.listenerArn,
    vpcId: config.vpcId,
    endpointDomain: config.endpointDomain,
    instancePort: config.instancePort,
  });
}
