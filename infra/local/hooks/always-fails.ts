/** An example verification hook that fails every time, with a reason: try a rollback by a hook with it. */
export async function handler(event: { stackId: string; hook: string }) {
  return {
    status: 'Failed',
    reason: `always-fails refuses ${event.stackId} (${event.hook}), as it always does`,
  };
}
