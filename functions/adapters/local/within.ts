/** Waits for `promise`, rejecting with `message` once `timeoutMs` has passed first; the timer never outlives the wait. */
export async function within(promise: Promise<unknown>, timeoutMs: number, message: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), Math.max(0, timeoutMs));
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
