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
