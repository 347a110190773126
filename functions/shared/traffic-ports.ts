import { buildAwsTrafficPorts } from './aws-traffic-ports.ts';
import { readAwsConfig } from './config.ts';
import { compositionRoot } from './wiring.ts';

/** Workflow tasks that move traffic but launch nothing: adds the ALB, no EC2 client. */
export const trafficPorts = compositionRoot(() => buildAwsTrafficPorts(readAwsConfig()));
