import { buildAwsRequestPorts } from './aws-request-ports.ts';
import { readAwsConfig } from './config.ts';
import { compositionRoot } from './wiring.ts';

/** API handlers and the bookkeeping tasks: state store, workflow starts, clock (DynamoDB and Step Functions clients). */
export const requestPorts = compositionRoot(() => buildAwsRequestPorts(readAwsConfig()));
