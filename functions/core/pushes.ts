import type { Spec, Tier } from './types.ts';

/**
 * Git pushes, as Kiln ingests them from any provider (a GitHub webhook, a CodeCommit event on
 * EventBridge), normalised at the edge into one shape.
 */

export const GIT_PROVIDERS = ['github', 'codecommit'] as const;
export type GitProvider = (typeof GIT_PROVIDERS)[number];

/** One push to one branch. */
export interface Push {
  provider: GitProvider;
  /** `owner/name` on GitHub, the repository name on CodeCommit. */
  repository: string;
  /** The branch name, without `refs/heads/`. */
  branch: string;
  change: 'created' | 'updated' | 'deleted';
  /** The full SHA the branch now points at; for a deletion, the one it pointed at before. */
  commit: string;
  /**
   * When the pushed head commit was made (GitHub: `head_commit.timestamp`); CodeCommit's events carry no
   * commit time, so there it is the time of the push. Pushes are ordered by it.
   */
  committedAt: string;
  /** A force-push (history rewritten): it may rightly go back to an older commit. */
  forced: boolean;
  /** Who pushed: the GitHub login, or the CodeCommit caller's IAM ARN. */
  pusher: string;
  /** GitHub's X-GitHub-Delivery, or the EventBridge event id: the same delivery is processed once. */
  deliveryId: string;
  /** When Kiln accepted it. */
  receivedAt: string;
}

/** A delivery Kiln accepted but that carries nothing to act on (a tag push, an event of another kind). */
export interface IgnoredDelivery {
  ignored: string;
}

/** A branch an environment follows: pushes to it deploy the pushed commit. */
export interface SourceBinding {
  provider: GitProvider;
  repository: string;
  branch: string;
}

/** The newest push an environment follows: later pushes are ordered against it. */
export interface SourceHead {
  commit: string;
  committedAt: string;
  deliveryId: string;
}

/**
 * What ingesting a push did for one environment:
 * - `deployed`: a deployment of the pushed commit was requested (or, for a deleted preview branch, a teardown);
 * - `superseded`: a newer push to the same branch arrived with it and deploys instead;
 * - `stale`: the environment already follows a newer commit, or this very one;
 * - `duplicate`: this delivery was processed before;
 * - `ignored`: nothing to do, with the reason.
 */
export type PushOutcome = 'deployed' | 'superseded' | 'stale' | 'duplicate' | 'ignored';

/** One push as received for one environment, with what became of it (GET /environments/{name}/pushes). */
export interface PushRecord {
  environment: string;
  deliveryId: string;
  provider: GitProvider;
  repository: string;
  branch: string;
  change: Push['change'];
  commit: string;
  committedAt: string;
  pusher: string;
  receivedAt: string;
  outcome: PushOutcome;
  reason?: string;
  /** The deployment (or teardown) it started. */
  deploymentId?: string;
  /** For a `duplicate`: which arrival of the delivery this was (the queue message). */
  arrival?: string;
}

/** The record of one delivery, by its id: what makes a redelivery, however late, a duplicate. */
export interface DeliveryRecord {
  provider: GitProvider;
  deliveryId: string;
  /** The queue message processing it; another message of the same delivery is a duplicate. */
  claimedBy: string;
  receivedAt: string;
  /** Set once processed: the environments it was recorded for (empty: it concerned none). */
  environments?: string[];
  /** When it concerned no environment, why. */
  ignored?: string;
}

/** A template for preview environments: a push to a matching branch creates `<name>-<branch slug>`. */
export interface PreviewTemplate {
  name: string;
  team: string;
  tier: Tier;
  source: { provider: GitProvider; repository: string; branches: string };
  spec: Spec;
  version: number;
  createdAt: string;
  updatedAt: string;
}
