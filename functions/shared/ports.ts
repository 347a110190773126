import type { Ports } from '../core/ports/index.ts';
import { buildAwsPorts } from './aws-ports.ts';
import { readAwsConfig } from './config.ts';
import { wiredPorts } from './wiring.ts';

let built: Ports | undefined;

/**
 * Composition root of the workflow task handlers: every port. On Lambda the first call builds the AWS
 * adapters from the function's environment and later invocations in the container reuse their clients.
 */
export function ports(): Ports {
  const wired = wiredPorts();
  if (wired) return wired;
  built ??= buildAwsPorts(readAwsConfig());
  return built;
}
