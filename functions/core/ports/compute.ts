import type { Instance, Spec } from '../types.ts';

/** Identity every instance carries (tags on EC2, environment variables embedded). */
export interface StackTags {
  environment: string;
  stackId: string;
  deploymentId: string;
}

/** A stack as the compute provider finds it by Kiln's tags, whatever Kiln's records say. */
export interface TaggedStack {
  stackId: string;
  /** Its instances that are not terminated or terminating. */
  instances: Instance[];
  /**
   * When the newest of them was launched, where the provider tells (EC2's launch time, a process's start
   * time): a stack launched moments ago may belong to a deployment whose record is not written yet.
   */
  launchedAt?: string;
}

/**
 * Runs a stack's instances. Embedded: child processes of the artifact; AWS: EC2 from a launch template.
 * Every method is idempotent and reconciles toward the request ("already gone" counts as success).
 */
export interface Compute {
  /**
   * Ensures `spec.capacity` instances run or start for the stack: instances already tagged with the stack
   * are kept and only the difference is launched. Returns the stack's live instances at once, new ones
   * possibly `pending`: the workflow waits until `describeStack` reports them `running`. Throws
   * ArtifactNotReadyError, launching nothing, while the artifact for `spec.version` does not exist yet (an
   * image still being baked; the workflow waits and retries), and LaunchFailedError when launching is
   * impossible.
   */
  launchStack(tags: StackTags, spec: Spec): Promise<Instance[]>;
  /** Instances tagged with the stack, terminated ones included while the provider still reports them. */
  describeStack(stackId: string): Promise<Instance[]>;
  /**
   * Starts terminating every instance tagged with the stack (recorded by Kiln or not) and returns at once:
   * the workflow waits until `describeStack` reports them all `terminated`. Calling it again carries the
   * termination on (embedded: an instance that ignored SIGTERM for a grace period is killed).
   */
  terminateStack(stackId: string): Promise<void>;
  /**
   * Every stack with instances carrying Kiln's tags (embedded: this data folder's owner marker), found by
   * those tags rather than by Kiln's records: what the orphan reaper holds against the store.
   */
  listTaggedStacks(): Promise<TaggedStack[]>;
}
