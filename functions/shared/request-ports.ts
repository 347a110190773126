import type { RequestPorts } from '../core/ports/index.ts';
import { buildAwsRequestPorts } from './aws-request-ports.ts';
import { readAwsConfig } from './config.ts';
import { wiredPorts } from './wiring.ts';

let built: RequestPorts | undefined;

/**
 * Composition root of the API handlers: only the state store, workflow starts and the clock, so an API
 * bundle carries the DynamoDB and Step Functions clients and not EC2's or ELB's.
 */
export function requestPorts(): RequestPorts {
  const wired = wiredPorts();
  if (wired) return wired;
  built ??= buildAwsRequestPorts(readAwsConfig());
  return built;
}
