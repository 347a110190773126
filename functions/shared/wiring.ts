import type { Ports } from '../core/ports/index.ts';

/**
 * Ports a host wired in (the embedded runtime, a test). Lambda wires nothing: there each handler's
 * composition root builds, on first use, only the AWS adapters that handler needs, so its bundle
 * carries only those SDK clients (see roots/).
 */
let wired: Ports | undefined;

export function wirePorts(ports: Ports): void {
  wired = ports;
}

/** A composition root: the wired ports if a host wired them, else `build()`'s, built once per process. */
export function compositionRoot<K extends keyof Ports>(build: () => Pick<Ports, K>): () => Pick<Ports, K> {
  let built: Pick<Ports, K> | undefined;
  return () => {
    if (wired) return wired;
    built ??= build();
    return built;
  };
}
