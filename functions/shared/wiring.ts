import type { Ports } from '../core/ports/index.ts';

/**
 * Ports a host wired in (the embedded runtime, a test). Lambda wires nothing: there each handler's
 * composition root builds the AWS adapters it needs on first use (see ports.ts, request-ports.ts).
 */
let wired: Ports | undefined;

export function wirePorts(ports: Ports): void {
  wired = ports;
}

export function wiredPorts(): Ports | undefined {
  return wired;
}
