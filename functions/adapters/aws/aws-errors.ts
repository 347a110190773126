/**
 * The SDK names every service error after its AWS error code (`RequestLimitExceeded`,
 * `InvalidAMIID.NotFound`, `TargetGroupNotFoundException`), modelled or not, so the code is its `name`.
 */
export function awsErrorCode(error: unknown): string | undefined {
  return error instanceof Error && '$metadata' in error ? error.name : undefined;
}

export function isAwsError(error: unknown, codes: readonly string[]): boolean {
  const code = awsErrorCode(error);
  return code !== undefined && codes.includes(code);
}

/**
 * Runs a call whose listed errors mean "already done" (deleting what is already gone, starting what
 * already started), which is success for an idempotent operation; resolves to undefined for them.
 */
export async function ignoringAwsErrors<T>(
  codes: readonly string[],
  call: () => Promise<T>,
): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isAwsError(error, codes)) return undefined;
    throw error;
  }
}
