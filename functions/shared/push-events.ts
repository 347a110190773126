import * as z from 'zod/mini';
import type { $ZodError } from 'zod/v4/core';
import en from 'zod/v4/locales/en.js';
import { ValidationError } from '../core/errors.ts';
import { GIT_PROVIDERS, type GitProvider, type IgnoredDelivery, type Push } from '../core/pushes.ts';

/**
 * Edge validation of Git pushes: what GitHub's `push` webhook, CodeCommit's events on EventBridge and
 * Kiln's own push queue deliver, normalised into the core's `Push`, or an `IgnoredDelivery` saying why
 * there is nothing to act on. Nothing about a delivery's shape is trusted, signed or not.
 *
 * Two outcomes besides a Push, on purpose:
 * - ignored: a genuine delivery about something Kiln does not act on: a tag, a ref outside
 *   `refs/heads/`, an event of another kind, or a branch or repository whose name Kiln cannot use (names
 *   become parts of environment names and keys). Delivering it again would change nothing, so a queue
 *   consumer deletes it and a webhook answers 2xx with the reason.
 * - MalformedPushEventError (a ValidationError: 400 at the HTTP edge): what no provider sends: a field
 *   missing or of the wrong type, a commit that is not a full SHA, a time that is not one, a created and
 *   deleted ref, a delivery id that is not one.
 *
 * Reasons and messages never repeat a delivery's text as it came: names are cut short and everything
 * outside printable ASCII is escaped, so a hostile branch name cannot forge a log line.
 */
z.config(en());

/** A delivery that cannot come from the provider it claims to come from: no Push can be made of it. */
export class MalformedPushEventError extends ValidationError {}

/** A push-queue message that is neither a queued Push nor a CodeCommit event: the consumer fails that record. */
export class MalformedPushMessageError extends ValidationError {}

const ZERO_SHA = '0'.repeat(40);
/**
 * A full SHA-1 commit id as git prints it. GitHub and CodeCommit repositories use SHA-1; git's SHA-256
 * object format (64 digits) is refused until a provider Kiln supports offers it.
 */
const SHA = /^[0-9a-f]{40}$/;
const sha = z.string().check(z.regex(SHA, 'must be a full commit SHA: 40 lowercase hexadecimal digits'));

/** GitHub's X-GitHub-Delivery and EventBridge's event ids are GUIDs; a little room beyond that. */
const DELIVERY_ID = /^[A-Za-z0-9._-]{1,128}$/;
const deliveryIdSchema = z
  .string()
  .check(z.regex(DELIVERY_ID, 'must be 1-128 letters, digits, dots, dashes or underscores'));

/**
 * Who pushed, as recorded in audit events: printable, on one line, without invisible characters, not
 * padded. A GitHub login or bot name, or an IAM ARN, fits easily.
 */
const ACTOR = /^(?! )[^\p{C}\p{Zl}\p{Zp}]{1,256}(?<! )$/u;
const actor = z.string().check(z.regex(ACTOR, 'must be 1-256 printable characters on one line'));

/** An IAM or STS principal ARN, the only kind of caller CodeCommit names (callerUserArn). */
const CALLER_ARN = /^arn:aws[a-z-]{0,20}:(iam|sts)::\d{12}:[\x21-\x7e]{1,1900}$/;

/**
 * ISO 8601 date-time with seconds and an offset, as GitHub (`head_commit.timestamp`, which keeps the
 * committer's offset: `2015-05-05T19:40:15-04:00`) and EventBridge (`time`) write them. Date.parse alone
 * would let `2019-02-30` roll over into March and accept `24:00`, so every field is range-checked.
 */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/;

function isRealTime(text: string): boolean {
  const match = ISO_TIME.exec(text);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as number[];
  const offsetHours = match[9] === undefined ? 0 : Number(match[9]);
  const offsetMinutes = match[10] === undefined ? 0 : Number(match[10]);
  const daysInMonth = new Date(Date.UTC(year as number, month as number, 0)).getUTCDate();
  return (
    (year as number) >= 1970 &&
    (month as number) >= 1 &&
    (month as number) <= 12 &&
    (day as number) >= 1 &&
    (day as number) <= daysInMonth &&
    (hour as number) <= 23 &&
    (minute as number) <= 59 &&
    (second as number) <= 59 &&
    offsetHours <= 14 &&
    offsetMinutes <= 59 &&
    !Number.isNaN(Date.parse(text))
  );
}

const eventTime = z.string().check(
  // A bound before the pattern, so that a megabyte-long "time" is one short issue.
  z.maxLength(40, { message: 'is not an ISO 8601 time', abort: true }),
  z.refine(isRealTime, 'must be an ISO 8601 time with seconds and an offset, e.g. 2019-05-15T15:19:25Z'),
);

/** The one form Kiln writes times in (Date#toISOString): what a queued Push must carry. */
const canonicalTime = z
  .string()
  .check(
    z.refine(
      (text) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(text) && isoUtc(text) === text,
      'must be an ISO 8601 UTC time such as 2019-05-15T15:19:25.000Z',
    ),
  );

function isoUtc(text: string): string {
  return new Date(text).toISOString();
}

/** The longest branch name Kiln takes: CodeCommit's limit (256 characters); GitHub's is shorter. */
export const MAX_BRANCH_LENGTH = 256;

/**
 * Characters nobody sees or that break a line: controls (C0, DEL, C1), format characters (bidi
 * overrides, zero-width joiners), lone surrogates, and every separator including the ASCII space (git
 * refuses that one already). Git accepts the others in refs; Kiln does not, as they let one branch pass
 * for another in a log, a console or an environment name.
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Z}]/u;
/** Refused anywhere in a ref by git check-ref-format. */
const GIT_FORBIDDEN = /[~^:?*[\\]/;

/**
 * Why a branch name (without `refs/heads/`) is not one Kiln can use, or undefined when it is: git's
 * rules for refs (check-ref-format) and branch names (`git branch`), plus a length bound and no
 * invisible characters, since the name becomes part of environment names, group ids and keys.
 */
export function branchNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'is empty';
  if (name.length > MAX_BRANCH_LENGTH) return `is longer than ${MAX_BRANCH_LENGTH} characters`;
  if (INVISIBLE.test(name)) return 'contains a space, a control character or an invisible character';
  if (GIT_FORBIDDEN.test(name)) return 'contains one of ~ ^ : ? * [ \\';
  if (name.includes('..')) return 'contains ..';
  if (name.includes('@{') || name === '@') return 'contains @{ or is @';
  if (name.startsWith('-')) return 'starts with -';
  if (name === 'HEAD') return 'is HEAD';
  const components = name.split('/');
  if (components.includes('')) return 'starts or ends with /, or contains //';
  if (components.some((component) => component.startsWith('.'))) return 'has a part that starts with .';
  if (components.some((component) => component.endsWith('.lock'))) return 'has a part that ends with .lock';
  if (name.endsWith('.')) return 'ends with .';
  return undefined;
}

/**
 * GitHub's `owner/name`: owners are letters, digits and dashes (underscores for managed users), names
 * letters, digits, `.`, `-` and `_` (`.github` is a real repository). CodeCommit's names: 1-100 of
 * letters, digits, `.`, `-`, `_` (its API's `[\w.-]+`). Kiln refuses `..` in either: it would read as a
 * parent folder in any path or key built from it.
 */
const GITHUB_REPOSITORY = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}\/(?!\.$)[A-Za-z0-9._-]{1,100}$/;
const CODECOMMIT_REPOSITORY = /^(?!\.$)[A-Za-z0-9._-]{1,100}$/;

/** Why a repository name is not one Kiln can use for that provider, or undefined when it is. */
export function repositoryNameProblem(provider: GitProvider, name: string): string | undefined {
  const pattern = provider === 'github' ? GITHUB_REPOSITORY : CODECOMMIT_REPOSITORY;
  if (!pattern.test(name)) {
    return provider === 'github'
      ? 'is not a GitHub owner/name: 1-100 letters, digits, - or _, a /, then 1-100 letters, digits, ., - or _'
      : 'is not a CodeCommit repository name: 1-100 letters, digits, ., - or _';
  }
  if (name.includes('..')) return 'contains ..';
  return undefined;
}

/**
 * A Push as Kiln writes it to its queue, checked again when read back: a message is input like any
 * other. Unknown fields are dropped rather than refused, so that a message written by a newer Kiln
 * during a deployment is still read.
 */
export const pushSchema = z
  .object({
    provider: z.enum(GIT_PROVIDERS),
    repository: z.string(),
    branch: z.string(),
    change: z.enum(['created', 'updated', 'deleted']),
    commit: sha.check(z.refine((commit) => commit !== ZERO_SHA, 'must not be the zero SHA')),
    committedAt: canonicalTime,
    forced: z.boolean(),
    pusher: actor,
    deliveryId: deliveryIdSchema,
    receivedAt: canonicalTime,
  })
  .check(
    z.superRefine((push, context) => {
      const repositoryProblem = repositoryNameProblem(push.provider, push.repository);
      if (repositoryProblem) {
        context.issues.push({
          code: 'custom',
          input: push.repository,
          path: ['repository'],
          message: repositoryProblem,
        });
      }
      const branchProblem = branchNameProblem(push.branch);
      if (branchProblem) {
        context.issues.push({ code: 'custom', input: push.branch, path: ['branch'], message: branchProblem });
      }
    }),
  );

// --- GitHub -------------------------------------------------------------------------------------------

/**
 * The part of GitHub's `push` payload Kiln reads. Refs, names and pushers are read as plain strings
 * here and judged afterwards: a name Kiln refuses makes the delivery ignored, not malformed.
 */
export const githubPushPayload = z.object({
  ref: z.string(),
  before: sha,
  after: sha,
  created: z.boolean(),
  deleted: z.boolean(),
  forced: z.boolean(),
  head_commit: z.optional(z.nullable(z.object({ id: sha, timestamp: eventTime }))),
  repository: z.object({ full_name: z.string() }),
  pusher: z.optional(z.nullable(z.object({ name: z.optional(z.unknown()) }))),
  sender: z.optional(z.nullable(z.object({ login: z.optional(z.unknown()) }))),
});

const BRANCH_PREFIX = 'refs/heads/';

/**
 * A GitHub `push` webhook payload (already signature-checked) as a Push, or why it is ignored.
 *
 * - Branch pushes only: `refs/tags/…` and any other ref are ignored.
 * - `change`: `created` or `deleted` as GitHub flags them, otherwise `updated`.
 * - `commit`: `after`; for a deletion `before`, the commit the branch pointed at.
 * - `committedAt`: `head_commit.timestamp` in UTC. A deletion has no head commit (nor has a push whose
 *   `after` is not a commit): then `receivedAt`, the time of the push as Kiln saw it, which is what
 *   CodeCommit pushes carry too. Not `repository.pushed_at`: GitHub sends it as epoch seconds in push
 *   payloads and an ISO string elsewhere, and it is the repository's latest push (any branch), not
 *   documented to move on a deletion, so it could order a deletion before the push it follows.
 * - `pusher`: `pusher.name` (GitHub puts the login there), or `sender.login` when that is missing or
 *   unusable.
 *
 * @param deliveryId the X-GitHub-Delivery header (validated here too).
 * @param receivedAt when Kiln accepted the delivery, as an ISO 8601 time (a RangeError otherwise: that
 *   is the caller's mistake, not the delivery's).
 * @throws MalformedPushEventError when the payload is not a push event GitHub could have sent.
 */
export function normalizeGitHubPush(
  payload: unknown,
  deliveryId: string,
  receivedAt: string,
): Push | IgnoredDelivery {
  const received = receivedTime(receivedAt);
  const parsed = z.safeParse(githubPushPayload, payload);
  const issues = parsed.success ? [] : issuesOf(parsed.error);
  if (!z.safeParse(deliveryIdSchema, deliveryId).success) {
    issues.push({
      path: 'X-GitHub-Delivery',
      message: 'must be 1-128 letters, digits, dots, dashes or underscores',
    });
  }
  if (!parsed.success || issues.length > 0) throw malformed('GitHub push payload', issues);
  const event = parsed.data;

  if (!event.ref.startsWith(BRANCH_PREFIX)) {
    return { ignored: `only branch pushes are deployed; this push is to ${describeRef(event.ref)}` };
  }
  const branch = event.ref.slice(BRANCH_PREFIX.length);
  const repository = event.repository.full_name;
  const nameProblem = namesProblem('github', repository, branch);
  if (nameProblem) return { ignored: nameProblem };

  if (event.created && event.deleted) {
    throw malformed('GitHub push payload', [
      { path: 'created', message: 'a push cannot both create and delete a ref' },
    ]);
  }
  const change = event.created ? 'created' : event.deleted ? 'deleted' : 'updated';
  const commit = change === 'deleted' ? event.before : event.after;
  if (commit === ZERO_SHA) {
    const field = change === 'deleted' ? 'before' : 'after';
    throw malformed('GitHub push payload', [
      {
        path: field,
        message: `is the zero SHA, but the push ${change === 'deleted' ? 'deletes' : 'keeps'} the branch`,
      },
    ]);
  }
  let committedAt = received;
  if (change !== 'deleted' && event.head_commit) {
    if (event.head_commit.id !== event.after) {
      throw malformed('GitHub push payload', [
        { path: 'head_commit.id', message: 'is not the commit the push leaves the branch at (after)' },
      ]);
    }
    committedAt = isoUtc(event.head_commit.timestamp);
  }
  const pusher = [event.pusher?.name, event.sender?.login].find(
    (name): name is string => typeof name === 'string' && ACTOR.test(name),
  );
  if (pusher === undefined) {
    throw malformed('GitHub push payload', [
      { path: 'pusher.name', message: 'names no pusher (nor does sender.login)' },
    ]);
  }
  return {
    provider: 'github',
    repository,
    branch,
    change,
    commit,
    committedAt,
    forced: event.forced,
    pusher,
    deliveryId,
    receivedAt: received,
  };
}

// --- CodeCommit ---------------------------------------------------------------------------------------

const CODECOMMIT_SOURCE = 'aws.codecommit';
const CODECOMMIT_STATE_CHANGE = 'CodeCommit Repository State Change';
const REFERENCE_EVENTS = {
  referenceCreated: 'created',
  referenceUpdated: 'updated',
  referenceDeleted: 'deleted',
} as const;

/** What every EventBridge event carries, enough to tell a CodeCommit state change from anything else. */
const eventBridgeEnvelope = z.object({
  id: z.string(),
  'detail-type': z.string(),
  source: z.string(),
  time: z.string(),
  detail: z.object({ event: z.optional(z.string()) }),
});

/** The reference events' detail, as CodeCommit sends it (and its user guide shows it). */
const referenceDetail = z.object({
  event: z.enum(['referenceCreated', 'referenceUpdated', 'referenceDeleted']),
  repositoryName: z.string(),
  referenceType: z.string(),
  referenceName: z.string(),
  referenceFullName: z.optional(z.string()),
  commitId: z.optional(sha),
  oldCommitId: z.optional(sha),
  callerUserArn: z.string().check(z.regex(CALLER_ARN, 'must be the ARN of an IAM or STS principal')),
});

/**
 * An EventBridge `CodeCommit Repository State Change` event as a Push, or why it is ignored.
 *
 * - `referenceCreated`, `referenceUpdated`, `referenceDeleted` of a branch; tags, other events
 *   (`unreferencedMergeCommitCreated`) and other detail types are ignored.
 * - `commit`: `detail.commitId`; for a deletion `detail.oldCommitId`.
 * - `committedAt` and `receivedAt`: the event's `time`. CodeCommit's events carry no commit time, so
 *   pushes are ordered by when they were made; and the event reaches Kiln's queue seconds later, so its
 *   time stands for the receipt too, the same for every redelivery of the event.
 * - `forced`: false. A `referenceUpdated` whose `oldCommitId` is not an ancestor of `commitId` is a force
 *   push, but the event does not say, and finding out needs the repository (GetMergeBase).
 * - `pusher`: `detail.callerUserArn`, which CodeCommit's deliveries carry (the user guide's examples
 *   leave it out): an event without one is malformed, since every action Kiln takes names its actor.
 * - `deliveryId`: the event's `id`; EventBridge keeps it across retries.
 *
 * @throws MalformedPushEventError when the event is not one EventBridge or CodeCommit could have sent.
 */
export function normalizeCodeCommitEvent(event: unknown): Push | IgnoredDelivery {
  const envelope = z.safeParse(eventBridgeEnvelope, event);
  if (!envelope.success) throw malformed('EventBridge event', issuesOf(envelope.error));
  const { id, source, time } = envelope.data;
  const detailType = envelope.data['detail-type'];
  if (source !== CODECOMMIT_SOURCE || detailType !== CODECOMMIT_STATE_CHANGE) {
    return {
      ignored: `not a CodeCommit repository state change: ${quoteName(source)} ${quoteName(detailType)}`,
    };
  }
  const kind = envelope.data.detail.event;
  if (kind === undefined || !Object.hasOwn(REFERENCE_EVENTS, kind)) {
    const what = kind === undefined ? 'event without detail.event' : quoteName(kind);
    return { ignored: `CodeCommit ${what} does not move a branch` };
  }

  // The envelope kept only detail.event: the detail is read again, whole.
  const parsed = z.safeParse(referenceDetail, (event as { detail: unknown }).detail);
  const issues = parsed.success ? [] : issuesOf(parsed.error, 'detail');
  if (!DELIVERY_ID.test(id)) issues.push({ path: 'id', message: 'is not an EventBridge event id' });
  if (!isRealTime(time)) issues.push({ path: 'time', message: 'is not an ISO 8601 time' });
  if (!parsed.success || issues.length > 0) throw malformed('CodeCommit event', issues);
  const detail = parsed.data;

  if (detail.referenceType !== 'branch') {
    return {
      ignored: `only branch pushes are deployed; this is a ${quoteName(detail.referenceType)} reference`,
    };
  }
  const branch = detail.referenceName;
  const nameProblem = namesProblem('codecommit', detail.repositoryName, branch);
  if (nameProblem) return { ignored: nameProblem };
  if (detail.referenceFullName !== undefined && detail.referenceFullName !== `${BRANCH_PREFIX}${branch}`) {
    throw malformed('CodeCommit event', [
      { path: 'detail.referenceFullName', message: 'is not refs/heads/ followed by detail.referenceName' },
    ]);
  }
  const change = REFERENCE_EVENTS[detail.event];
  const [field, commit] =
    change === 'deleted' ? ['oldCommitId', detail.oldCommitId] : ['commitId', detail.commitId];
  if (commit === undefined || commit === ZERO_SHA) {
    throw malformed('CodeCommit event', [
      {
        path: `detail.${field}`,
        message: `a ${detail.event} event needs the commit the branch ${change === 'deleted' ? 'pointed' : 'points'} at`,
      },
    ]);
  }
  const at = isoUtc(time);
  return {
    provider: 'codecommit',
    repository: detail.repositoryName,
    branch,
    change,
    commit,
    committedAt: at,
    forced: false,
    pusher: detail.callerUserArn,
    deliveryId: id,
    receivedAt: at,
  };
}

// --- the push queue -----------------------------------------------------------------------------------

const queuedPush = z.object({ push: pushSchema });

/**
 * A push-queue message body as a Push, or why it is ignored. Two writers share the queue: Kiln's
 * PushQueue (`{ "push": <Push> }`, from the GitHub webhook) and the EventBridge rule whose SQS target
 * delivers CodeCommit's events as they are.
 *
 * @throws MalformedPushMessageError when the body is neither (the record is reported as a failure, so that
 *   it goes to the dead-letter queue after its retries), with the CodeCommit event's error as its cause.
 */
export function parsePushMessage(body: string): Push | IgnoredDelivery {
  let message: unknown;
  try {
    message = JSON.parse(body);
  } catch (error) {
    // Not JSON.parse's message: it quotes the body, control characters and all.
    const notJson = new MalformedPushMessageError('the push message is not JSON');
    notJson.cause = error;
    throw notJson;
  }
  if (typeof message !== 'object' || message === null || Array.isArray(message)) {
    throw new MalformedPushMessageError('the push message is not a JSON object');
  }
  if (Object.hasOwn(message, 'push')) {
    const parsed = z.safeParse(queuedPush, message);
    if (parsed.success) return parsed.data.push;
    const issues = issuesOf(parsed.error);
    throw new MalformedPushMessageError(`the queued push is invalid: ${summary(issues)}`, issues);
  }
  if (Object.hasOwn(message, 'detail-type')) {
    try {
      return normalizeCodeCommitEvent(message);
    } catch (error) {
      if (!(error instanceof MalformedPushEventError)) throw error;
      const wrapped = new MalformedPushMessageError(error.message, error.issues);
      wrapped.cause = error;
      throw wrapped;
    }
  }
  throw new MalformedPushMessageError(
    'the push message is neither a queued push ({"push": …}) nor an EventBridge event',
  );
}

// --- helpers ------------------------------------------------------------------------------------------

type Issue = { path: string; message: string };

function receivedTime(receivedAt: string): string {
  if (typeof receivedAt !== 'string' || !isRealTime(receivedAt)) {
    throw new RangeError('receivedAt must be an ISO 8601 time such as 2019-05-15T15:19:25.000Z');
  }
  return isoUtc(receivedAt);
}

function namesProblem(provider: GitProvider, repository: string, branch: string): string | undefined {
  const repositoryProblem = repositoryNameProblem(provider, repository);
  if (repositoryProblem) return `the repository name ${quoteName(repository)} ${repositoryProblem}`;
  const branchProblem = branchNameProblem(branch);
  if (branchProblem) return `the branch name ${quoteName(branch)} ${branchProblem}`;
  return undefined;
}

function issuesOf(error: $ZodError, prefix?: string): Issue[] {
  return error.issues.map((issue) => ({
    path: [...(prefix ? [prefix] : []), ...issue.path.map(String)].join('.') || '(root)',
    message: issue.message,
  }));
}

function malformed(what: string, issues: Issue[]): MalformedPushEventError {
  return new MalformedPushEventError(`the ${what} is malformed: ${summary(issues)}`, issues);
}

const MAX_REPORTED_ISSUES = 10;

function summary(issues: Issue[]): string {
  const shown = issues.slice(0, MAX_REPORTED_ISSUES).map((issue) => `${issue.path}: ${issue.message}`);
  const more = issues.length > shown.length ? ` (and ${issues.length - shown.length} more)` : '';
  return `${shown.join('; ')}${more}`;
}

function describeRef(ref: string): string {
  if (ref.startsWith('refs/tags/')) return `the tag ${quoteName(ref.slice('refs/tags/'.length))}`;
  return `the ref ${quoteName(ref)}`;
}

const DESCRIBED_LENGTH = 80;

/**
 * A name from a delivery, safe to put in a reason or a log line: quoted, cut at 80 characters, and
 * everything outside printable ASCII (controls, bidi overrides, other scripts) written as `\u{…}`.
 */
export function quoteName(text: string): string {
  // Slicing code units first keeps a megabyte-long name cheap; twice the length keeps whole code points.
  const characters = Array.from(text.slice(0, DESCRIBED_LENGTH * 2));
  const cut = characters.length > DESCRIBED_LENGTH || text.length > DESCRIBED_LENGTH * 2;
  const escaped = characters
    .slice(0, DESCRIBED_LENGTH)
    .map((character) =>
      /^[\x20-\x7e]$/.test(character) && character !== '"' && character !== '\\'
        ? character
        : `\\u{${(character.codePointAt(0) as number).toString(16)}}`,
    )
    .join('');
  return `"${escaped}${cut ? '…' : ''}"`;
}
