import type { Ports } from '../core/ports/index.ts';

/**
 * Composition root for handlers: the ports every handler uses, wired once per process by whoever
 * hosts the handlers (the embedded runtime, a test, or the Lambda bootstrap for the AWS provider).
 */
let wired: Ports | undefined;

export function wirePorts(ports: Ports): void {
  wired = ports;
}

export function ports(): Ports {
  if (!wired) {
    throw new Error('Kiln ports are not wired: the host must call wirePorts() before invoking a handler');
  }
  return wired;
}
