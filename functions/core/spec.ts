import type { Spec, Stack } from './types.ts';

/** Stack ids carry the environment and a zero-padded generation so they sort and read naturally. */
export function stackIdFor(environment: string, generation: number): string {
  return `${environment}-v${String(generation).padStart(4, '0')}`;
}

/** The generation a stack id names, or undefined for an id Kiln did not make. */
export function generationOf(stackId: string): number | undefined {
  const match = /-v(\d{4,})$/.exec(stackId);
  return match ? Number(match[1]) : undefined;
}

/** The environment a stack id names, or undefined for an id Kiln did not make. */
export function environmentOfStack(stackId: string): string | undefined {
  const match = /^(.+)-v\d{4,}$/.exec(stackId);
  return match?.[1];
}

/** True when two specs describe the same thing to run (key order and absent-vs-empty env do not matter). */
export function specsEqual(a: Spec | undefined, b: Spec | undefined): boolean {
  if (!a || !b) return a === b;
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x.localeCompare(y)))
      : v,
  );
}

/** Stacks that still hold compute or traffic and so must be torn down with their environment. */
export function stacksStillRunning(stacks: Stack[]): Stack[] {
  return stacks.filter((s) => s.status !== 'decommissioned' && s.status !== 'failed');
}
