import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ElbTraffic } from '../../adapters/aws/elb-traffic.ts';
import type { Traffic } from '../../core/ports/traffic.ts';
import { readTrafficConfig } from '../config.ts';

/** The ALB listener carrying one host-header rule per environment, and CloudWatch for its request counts. */
export function buildAwsTraffic(
  config = readTrafficConfig(),
  client = new ElasticLoadBalancingV2Client({}),
  cloudWatch = new CloudWatchClient({}),
): Traffic {
  return new ElbTraffic({
    client,
    cloudWatch,
    listenerArn: config.listenerArn,
    vpcId: config.vpcId,
    endpointDomain: config.endpointDomain,
    instancePort: config.instancePort,
    wakerTargetGroupArn: config.wakerTargetGroupArn,
  });
}
