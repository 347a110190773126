import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { IgnoredDelivery, Push } from '../../functions/core/pushes.ts';
import {
  branchNameProblem,
  MalformedPushEventError,
  MalformedPushMessageError,
  normalizeCodeCommitEvent,
  normalizeGitHubPush,
  parsePushMessage,
  pushSchema,
  quoteName,
} from '../../functions/shared/push-events.ts';
import {
  allGitHubPushExamples,
  CALLER_ARN,
  CODECOMMIT_COMMITS,
  codeCommitBranchCreated,
  codeCommitBranchCreatedAsDocumented,
  codeCommitBranchDeleted,
  codeCommitBranchUpdated,
  codeCommitCommentOnCommit,
  codeCommitTagCreated,
  codeCommitUnreferencedMergeCommit,
  DELIVERY_ID,
  githubBranchCreated,
  githubBranchDeleted,
  githubBranchUpdated,
  githubForcedPush,
  githubTagCreated,
  githubTagDeleted,
  INITIAL_COMMIT,
  NEXT_COMMIT,
  RECEIVED_AT,
  ZERO_SHA,
} from '../fixtures/push-events.ts';

const fromGitHub = (payload: unknown, deliveryId = DELIVERY_ID) =>
  normalizeGitHubPush(payload, deliveryId, RECEIVED_AT);

function asPush(result: Push | IgnoredDelivery): Push {
  assert.ok(!('ignored' in result), `expected a push, got ignored: ${(result as IgnoredDelivery).ignored}`);
  return result;
}

function asIgnored(result: Push | IgnoredDelivery): string {
  assert.ok('ignored' in result, `expected the delivery to be ignored, got ${JSON.stringify(result)}`);
  return result.ignored;
}

/** The error `run` throws, checked to be `type`. */
function thrown<E extends Error>(type: new (...args: never[]) => E, run: () => unknown): E {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${(error as Error)?.name}: ${error}`);
    return error;
  }
  assert.fail(`expected ${type.name}, nothing was thrown`);
}

function malformedPaths(run: () => unknown): string[] {
  return thrown(MalformedPushEventError, run).issues.map((issue) => issue.path);
}

/** A reason or message that a log line can carry as it is: printable ASCII (plus …), bounded. */
function assertSafeText(text: string): void {
  assert.match(text, /^[\x20-\x7e…]*$/, `not printable: ${JSON.stringify(text)}`);
  assert.ok(text.length < 600, `too long: ${text.length} characters`);
}

/** What every result must be: a Push that passes the queue's own validation, or a reason. */
function assertValidOutcome(run: () => Push | IgnoredDelivery): void {
  let result: Push | IgnoredDelivery;
  try {
    result = run();
  } catch (error) {
    assert.ok(error instanceof MalformedPushEventError, `unexpected ${(error as Error)?.name}: ${error}`);
    assertSafeText(error.message);
    return;
  }
  if ('ignored' in result) {
    assert.equal(typeof result.ignored, 'string');
    assertSafeText(result.ignored);
    return;
  }
  const checked = pushSchema.safeParse(result);
  assert.ok(checked.success, `a bad push came out: ${JSON.stringify(result)}`);
  assert.deepEqual(checked.data, result);
}

describe('GitHub push webhooks', () => {
  it('turns a real branch creation into a created push of its head commit', () => {
    assert.deepEqual(asPush(fromGitHub(githubBranchCreated())), {
      provider: 'github',
      repository: 'Codertocat/Hello-World',
      branch: 'master',
      change: 'created',
      commit: INITIAL_COMMIT,
      committedAt: '2019-05-15T15:19:25.000Z',
      forced: false,
      pusher: 'Codertocat',
      deliveryId: DELIVERY_ID,
      receivedAt: RECEIVED_AT,
    });
  });

  it('turns an update into an updated push, its commit time moved from the committer offset to UTC', () => {
    const push = asPush(fromGitHub(githubBranchUpdated()));
    assert.equal(push.change, 'updated');
    assert.equal(push.commit, NEXT_COMMIT);
    assert.equal(push.committedAt, '2019-05-15T15:20:12.000Z');
    assert.equal(push.forced, false);
  });

  it('marks a force push as forced', () => {
    const push = asPush(fromGitHub(githubForcedPush()));
    assert.equal(push.forced, true);
    assert.equal(push.change, 'updated');
    assert.equal(push.commit, NEXT_COMMIT);
  });

  it('turns a branch deletion into a deleted push of the commit the branch pointed at, timed at receipt', () => {
    assert.deepEqual(asPush(fromGitHub(githubBranchDeleted())), {
      provider: 'github',
      repository: 'Codertocat/Hello-World',
      branch: 'feature/old-idea',
      change: 'deleted',
      commit: INITIAL_COMMIT,
      committedAt: RECEIVED_AT,
      forced: false,
      pusher: 'Codertocat',
      deliveryId: DELIVERY_ID,
      receivedAt: RECEIVED_AT,
    });
  });

  it('ignores real tag pushes, naming the tag', () => {
    assert.equal(
      asIgnored(fromGitHub(githubTagCreated())),
      'only branch pushes are deployed; this push is to the tag "simple-tag"',
    );
    assert.match(asIgnored(fromGitHub(githubTagDeleted())), /tag "simple-tag"/);
  });

  it('ignores refs that are neither branches nor tags', () => {
    for (const ref of ['refs/notes/commits', 'refs/pull/1/head', 'master', 'refs/heads']) {
      assert.match(asIgnored(fromGitHub({ ...githubBranchUpdated(), ref })), /only branch pushes/);
    }
  });

  it('handles every push example GitHub and GitHub Enterprise Server sent, never with an error', () => {
    assert.ok(allGitHubPushExamples.length >= 10);
    for (const example of allGitHubPushExamples) {
      const result = fromGitHub(example);
      if (example.ref.startsWith('refs/heads/')) asPush(result);
      else asIgnored(result);
    }
  });

  it('times a push whose head commit is missing at its receipt', () => {
    const push = asPush(fromGitHub({ ...githubBranchUpdated(), head_commit: null }));
    assert.equal(push.committedAt, RECEIVED_AT);
    const { head_commit: _, ...withoutHeadCommit } = githubBranchUpdated();
    assert.equal(asPush(fromGitHub(withoutHeadCommit)).committedAt, RECEIVED_AT);
  });

  it('keeps fractions of a second and normalises receivedAt to UTC', () => {
    const event = githubBranchUpdated();
    (event.head_commit as { timestamp: string }).timestamp = '2019-05-15T17:20:12.5+02:00';
    const push = asPush(normalizeGitHubPush(event, DELIVERY_ID, '2019-05-15T17:21:03+02:00'));
    assert.equal(push.committedAt, '2019-05-15T15:20:12.500Z');
    assert.equal(push.receivedAt, '2019-05-15T15:21:03.000Z');
  });

  it('takes the pusher from sender.login when pusher.name is missing or unusable', () => {
    assert.equal(asPush(fromGitHub({ ...githubBranchUpdated(), pusher: undefined })).pusher, 'Codertocat');
    const renamed = { ...githubBranchUpdated(), pusher: { name: 'evil\nINFO forged line' } };
    assert.equal(asPush(fromGitHub(renamed)).pusher, 'Codertocat');
    const bot = { ...githubBranchUpdated(), pusher: { name: 'dependabot[bot]', email: null } };
    assert.equal(asPush(fromGitHub(bot)).pusher, 'dependabot[bot]');
  });

  it('refuses a push that names no pusher at all', () => {
    const event = { ...githubBranchUpdated(), pusher: { name: '' }, sender: { login: 'x'.repeat(300) } };
    assert.deepEqual(
      malformedPaths(() => fromGitHub(event)),
      ['pusher.name'],
    );
  });

  it('refuses a receivedAt that is not a time as the caller’s mistake', () => {
    for (const receivedAt of ['', 'now', '0', '2019-02-30T00:00:00Z']) {
      assert.throws(() => normalizeGitHubPush(githubBranchUpdated(), DELIVERY_ID, receivedAt), RangeError);
    }
  });
});

describe('hostile GitHub payloads', () => {
  it('refuses what is not an object', () => {
    for (const payload of [null, undefined, 'push', 42, [], true]) {
      assert.deepEqual(
        malformedPaths(() => fromGitHub(payload)),
        ['(root)'],
      );
    }
  });

  for (const field of ['ref', 'before', 'after', 'created', 'deleted', 'forced', 'repository']) {
    it(`refuses a payload without ${field}, naming it`, () => {
      const event: Record<string, unknown> = { ...githubBranchUpdated() };
      delete event[field];
      assert.deepEqual(
        malformedPaths(() => fromGitHub(event)),
        [field],
      );
    });
  }

  it('refuses fields of the wrong type, naming each', () => {
    const event = {
      ...githubBranchUpdated(),
      created: 'false',
      after: 123,
      repository: { full_name: ['Codertocat', 'Hello-World'] },
      head_commit: { id: NEXT_COMMIT, timestamp: 1557933612 },
    };
    assert.deepEqual(malformedPaths(() => fromGitHub(event)).sort(), [
      'after',
      'created',
      'head_commit.timestamp',
      'repository.full_name',
    ]);
  });

  for (const [what, sha] of [
    ['40 characters that are not hex', 'g'.repeat(40)],
    ['40 characters with a space', `${'a'.repeat(39)} `],
    ['uppercase hex', NEXT_COMMIT.toUpperCase()],
    ['a short SHA', NEXT_COMMIT.slice(0, 7)],
    ['39 hex digits', NEXT_COMMIT.slice(1)],
    ['a SHA-256 object id', 'a'.repeat(64)],
    ['a SHA with a newline', `${NEXT_COMMIT}\n`],
  ]) {
    it(`refuses ${what} as a commit`, () => {
      assert.deepEqual(
        malformedPaths(() => fromGitHub({ ...githubBranchUpdated(), after: sha })),
        ['after'],
      );
      assert.deepEqual(
        malformedPaths(() => fromGitHub({ ...githubBranchDeleted(), before: sha })),
        ['before'],
      );
    });
  }

  it('refuses a push that keeps the branch at the zero SHA, or deletes it from the zero SHA', () => {
    assert.deepEqual(
      malformedPaths(() => fromGitHub({ ...githubBranchUpdated(), after: ZERO_SHA, head_commit: null })),
      ['after'],
    );
    assert.deepEqual(
      malformedPaths(() => fromGitHub({ ...githubBranchDeleted(), before: ZERO_SHA })),
      ['before'],
    );
  });

  it('refuses a push that both creates and deletes the branch', () => {
    assert.deepEqual(
      malformedPaths(() => fromGitHub({ ...githubBranchCreated(), deleted: true })),
      ['created'],
    );
  });

  it('refuses a head commit that is not the commit the branch moved to', () => {
    const event = githubBranchUpdated();
    assert.deepEqual(
      malformedPaths(() =>
        fromGitHub({ ...event, head_commit: { ...event.head_commit, id: INITIAL_COMMIT } }),
      ),
      ['head_commit.id'],
    );
  });

  for (const timestamp of [
    '2019-02-30T10:00:00Z',
    '2019-05-15T24:00:00Z',
    '2019-05-15T15:19:60Z',
    '2019-05-15 15:19:25Z',
    '2019-05-15T15:19:25',
    '2019-05-15',
    'yesterday',
    '1969-12-31T23:59:59Z',
    '2019-05-15T15:19:25+15:00',
    `2019-05-15T15:19:25${'0'.repeat(100)}Z`,
  ]) {
    it(`refuses the commit time ${JSON.stringify(timestamp.slice(0, 40))}`, () => {
      const event = githubBranchUpdated();
      assert.deepEqual(
        malformedPaths(() => fromGitHub({ ...event, head_commit: { ...event.head_commit, timestamp } })),
        ['head_commit.timestamp'],
      );
    });
  }

  for (const deliveryId of ['', 'x'.repeat(129), 'a b', '../../etc', 'id\n', 'ïd']) {
    it(`refuses the delivery id ${JSON.stringify(deliveryId.slice(0, 20))}`, () => {
      assert.deepEqual(
        malformedPaths(() => fromGitHub(githubBranchUpdated(), deliveryId)),
        ['X-GitHub-Delivery'],
      );
    });
  }

  it('reads nothing from __proto__ keys', () => {
    const body = JSON.stringify(githubBranchUpdated()).replace(
      '{"ref"',
      '{"__proto__":{"branch":"x","forced":true},"ref"',
    );
    const push = asPush(fromGitHub(JSON.parse(body)));
    assert.equal(push.branch, 'master');
    assert.equal(push.forced, false);
    assert.equal(Object.getPrototypeOf(push), Object.prototype);
  });
});

describe('branch and repository names', () => {
  const refusedBranches = [
    '',
    '..',
    'a..b',
    'feature/../main',
    'a\u0000b',
    'a\nb',
    'a\rb',
    'a\tb',
    'a\u007fb',
    'a\u0085b',
    'a b',
    'a\u00a0b',
    'a\u3000b',
    'a\u2028b',
    'main\u202e',
    'ma\u200bin',
    'a\ud800b',
    'feature/.hidden',
    '.hidden',
    'x.lock',
    'feature/x.lock/y',
    'a//b',
    '/a',
    'a/',
    'a.',
    '-x',
    'HEAD',
    '@',
    'a@{1}',
    'a~1',
    'a^',
    'a:b',
    'a?',
    'a*',
    'a[0]',
    'a\\b',
    'x'.repeat(257),
    'x'.repeat(1_000_000),
  ];
  for (const branch of refusedBranches) {
    it(`ignores a push to the branch ${quoteName(branch)}, with a reason safe to log`, () => {
      const reason = asIgnored(fromGitHub({ ...githubBranchUpdated(), ref: `refs/heads/${branch}` }));
      assert.match(reason, /^the branch name ".*" /);
      assertSafeText(reason);
      assert.ok(branchNameProblem(branch));
    });
  }

  for (const branch of [
    'main',
    'feature/JIRA-123_fix',
    'release/1.2.3',
    'dependabot/npm_and_yarn/zod-4.6.7',
    'a.b',
    'a@b',
    'café',
    'fix-🐛',
    'x'.repeat(256),
    'HEAD-2',
  ]) {
    it(`takes the branch ${quoteName(branch)}`, () => {
      const push = asPush(fromGitHub({ ...githubBranchUpdated(), ref: `refs/heads/${branch}` }));
      assert.equal(push.branch, branch);
    });
  }

  for (const repository of [
    'Hello-World',
    'a/b/c',
    'Codertocat/..',
    'Codertocat/.',
    'Codertocat/a..b',
    '../Hello-World',
    '-x/y',
    'Codertocat/Hello World',
    'Codertocat/Hello-World\n',
    'Codertocat/Héllo',
    `Codertocat/${'x'.repeat(101)}`,
    `Codertocat/${'x'.repeat(1_000_000)}`,
  ]) {
    it(`ignores a push to the repository ${quoteName(repository)}`, () => {
      const reason = asIgnored(
        fromGitHub({ ...githubBranchUpdated(), repository: { full_name: repository } }),
      );
      assert.match(reason, /^the repository name ".*" /);
      assertSafeText(reason);
    });
  }

  it('takes GitHub repository names with dots, dashes and underscores', () => {
    for (const repository of ['octo-org/.github', 'my_org/repo.js', 'a/b', 'UPPER/Case_1.0']) {
      const push = asPush(fromGitHub({ ...githubBranchUpdated(), repository: { full_name: repository } }));
      assert.equal(push.repository, repository);
    }
  });

  it('quotes names cut short with everything outside printable ASCII escaped', () => {
    assert.equal(quoteName('main'), '"main"');
    assert.equal(quoteName('a\u202eb"\\\n'), '"a\\u{202e}b\\u{22}\\u{5c}\\u{a}"');
    assert.equal(quoteName('x'.repeat(81)), `"${'x'.repeat(80)}…"`);
    assert.equal(quoteName('🐛'.repeat(100)), `"${'\\u{1f41b}'.repeat(80)}…"`);
  });
});

describe('CodeCommit events', () => {
  it('turns a branch creation into a created push timed by the event', () => {
    assert.deepEqual(asPush(normalizeCodeCommitEvent(codeCommitBranchCreated())), {
      provider: 'codecommit',
      repository: 'MyDemoRepo',
      branch: 'myBranch',
      change: 'created',
      commit: CODECOMMIT_COMMITS.DESTINATION_COMMIT,
      committedAt: '2019-06-12T10:23:43.000Z',
      forced: false,
      pusher: CALLER_ARN,
      deliveryId: '01234567-0123-4567-89ab-0123456789ab',
      receivedAt: '2019-06-12T10:23:43.000Z',
    });
  });

  it('turns an update into an updated push of the new commit, never known to be forced', () => {
    const push = asPush(normalizeCodeCommitEvent(codeCommitBranchUpdated()));
    assert.equal(push.change, 'updated');
    assert.equal(push.commit, CODECOMMIT_COMMITS.MERGE_COMMIT);
    assert.equal(push.forced, false);
    assert.equal(push.deliveryId, '98377d67-0123-4567-89ab-0123456789ab');
  });

  it('turns a deletion into a deleted push of the commit the branch pointed at', () => {
    const push = asPush(normalizeCodeCommitEvent(codeCommitBranchDeleted()));
    assert.equal(push.change, 'deleted');
    assert.equal(push.commit, CODECOMMIT_COMMITS.OLD_COMMIT);
  });

  it('ignores tags, state changes that move no branch, and other kinds of event', () => {
    assert.equal(
      asIgnored(normalizeCodeCommitEvent(codeCommitTagCreated())),
      'only branch pushes are deployed; this is a "tag" reference',
    );
    assert.equal(
      asIgnored(normalizeCodeCommitEvent(codeCommitUnreferencedMergeCommit())),
      'CodeCommit "unreferencedMergeCommitCreated" does not move a branch',
    );
    assert.match(asIgnored(normalizeCodeCommitEvent(codeCommitCommentOnCommit())), /Comment on Commit/);
    const kiln = { ...codeCommitBranchCreated(), source: 'kiln', 'detail-type': 'Deployment Status Changed' };
    assert.match(asIgnored(normalizeCodeCommitEvent(kiln)), /not a CodeCommit repository state change/);
    const spoofed = { ...codeCommitBranchCreated(), source: 'aws.codecommit.evil' };
    assert.match(asIgnored(normalizeCodeCommitEvent(spoofed)), /not a CodeCommit/);
    const prototypeName = codeCommitBranchCreated();
    prototypeName.detail.event = 'toString';
    asIgnored(normalizeCodeCommitEvent(prototypeName));
  });

  it('refuses the guide’s example as printed: a placeholder commit id and no caller', () => {
    assert.deepEqual(
      malformedPaths(() => normalizeCodeCommitEvent(codeCommitBranchCreatedAsDocumented())),
      ['detail.commitId', 'detail.callerUserArn'],
    );
  });

  it('refuses events without the commit their change needs', () => {
    const created = codeCommitBranchCreated();
    delete created.detail.commitId;
    assert.deepEqual(
      malformedPaths(() => normalizeCodeCommitEvent(created)),
      ['detail.commitId'],
    );
    const deleted = codeCommitBranchDeleted();
    delete deleted.detail.oldCommitId;
    assert.deepEqual(
      malformedPaths(() => normalizeCodeCommitEvent(deleted)),
      ['detail.oldCommitId'],
    );
    const zero = codeCommitBranchUpdated();
    zero.detail.commitId = ZERO_SHA;
    assert.deepEqual(
      malformedPaths(() => normalizeCodeCommitEvent(zero)),
      ['detail.commitId'],
    );
  });

  it('refuses a full reference name that disagrees with the branch name', () => {
    const event = codeCommitBranchUpdated();
    event.detail.referenceFullName = 'refs/heads/main';
    assert.deepEqual(
      malformedPaths(() => normalizeCodeCommitEvent(event)),
      ['detail.referenceFullName'],
    );
  });

  it('refuses what is not an EventBridge event, naming what is missing', () => {
    for (const event of [null, 'event', [], 7]) {
      assert.deepEqual(
        malformedPaths(() => normalizeCodeCommitEvent(event)),
        ['(root)'],
      );
    }
    const { time: _, detail: __, ...bare } = codeCommitBranchCreated();
    assert.deepEqual(malformedPaths(() => normalizeCodeCommitEvent(bare)).sort(), ['detail', 'time']);
  });

  for (const [field, value] of [
    ['commitId', 'g'.repeat(40)],
    ['commitId', 12345],
    ['repositoryName', 42],
    ['referenceName', null],
    ['referenceType', undefined],
    ['callerUserArn', 'Mary_Major'],
    ['callerUserArn', 'arn:aws:iam::12345:user/short-account'],
    ['callerUserArn', `${CALLER_ARN}\nINFO forged`],
    ['callerUserArn', `arn:aws:iam::123456789012:user/${'x'.repeat(5000)}`],
  ] as const) {
    it(`refuses detail.${field} = ${JSON.stringify(value)?.slice(0, 40)}`, () => {
      const event = codeCommitBranchUpdated();
      event.detail[field] = value;
      assert.deepEqual(
        malformedPaths(() => normalizeCodeCommitEvent(event)),
        [`detail.${field}`],
      );
    });
  }

  it('refuses an event id or time that is not one', () => {
    assert.deepEqual(
      malformedPaths(() => normalizeCodeCommitEvent({ ...codeCommitBranchCreated(), id: 'a b' })),
      ['id'],
    );
    assert.deepEqual(
      malformedPaths(() => normalizeCodeCommitEvent({ ...codeCommitBranchCreated(), time: 'June 12' })),
      ['time'],
    );
  });

  for (const [field, value] of [
    ['referenceName', 'a..b'],
    ['referenceName', 'main\u0000'],
    ['referenceName', 'x'.repeat(100_000)],
    ['repositoryName', '../MyDemoRepo'],
    ['repositoryName', 'My..Repo'],
    ['repositoryName', 'a/b'],
    ['repositoryName', 'x'.repeat(101)],
  ] as const) {
    it(`ignores an event whose ${field} is ${quoteName(value).slice(0, 30)}`, () => {
      const event = codeCommitBranchUpdated();
      event.detail[field] = value;
      if (field === 'referenceName') event.detail.referenceFullName = `refs/heads/${value}`;
      assertSafeText(asIgnored(normalizeCodeCommitEvent(event)));
    });
  }
});

describe('push queue messages', () => {
  const githubPush = () => asPush(fromGitHub(githubBranchUpdated()));

  it('reads back what the push queue writes', () => {
    for (const push of [githubPush(), asPush(normalizeCodeCommitEvent(codeCommitBranchDeleted()))]) {
      assert.deepEqual(parsePushMessage(JSON.stringify({ push })), push);
    }
  });

  it('normalises a CodeCommit event that the EventBridge rule delivered as it is', () => {
    assert.deepEqual(
      parsePushMessage(JSON.stringify(codeCommitBranchCreated())),
      normalizeCodeCommitEvent(codeCommitBranchCreated()),
    );
    asIgnored(parsePushMessage(JSON.stringify(codeCommitTagCreated())));
  });

  it('drops fields a newer Kiln may add to a queued push', () => {
    const push = githubPush();
    assert.deepEqual(parsePushMessage(JSON.stringify({ push: { ...push, priority: 1 }, version: 2 })), push);
  });

  it('refuses bodies that are not JSON objects, without quoting them', () => {
    for (const body of ['', 'not json \u001b[31m', '[]', 'null', '42', '"push"']) {
      const error = thrown(MalformedPushMessageError, () => parsePushMessage(body));
      assert.ok(!error.message.includes('\u001b') && !error.message.includes('not json'), error.message);
    }
  });

  it('refuses objects that are neither a queued push nor an EventBridge event', () => {
    thrown(MalformedPushMessageError, () => parsePushMessage('{}'));
    thrown(MalformedPushMessageError, () => parsePushMessage('{"Records":[]}'));
  });

  it('refuses a queued push that is not a valid push, naming each field', () => {
    const push = githubPush();
    const error = thrown(MalformedPushMessageError, () =>
      parsePushMessage(
        JSON.stringify({
          push: {
            ...push,
            provider: 'gitlab',
            commit: ZERO_SHA,
            committedAt: '2019-05-15T15:20:12Z',
            branch: 'a..b',
            deliveryId: undefined,
          },
        }),
      ),
    );
    assert.deepEqual(error.issues.map((issue) => issue.path).sort(), [
      'push.commit',
      'push.committedAt',
      'push.deliveryId',
      'push.provider',
    ]);
    const badNames = thrown(MalformedPushMessageError, () =>
      parsePushMessage(JSON.stringify({ push: { ...push, branch: 'a..b', repository: 'x' } })),
    );
    assert.deepEqual(badNames.issues.map((issue) => issue.path).sort(), ['push.branch', 'push.repository']);
  });

  it('refuses a malformed CodeCommit event, with the event’s error as its cause', () => {
    const error = thrown(MalformedPushMessageError, () =>
      parsePushMessage(JSON.stringify(codeCommitBranchCreatedAsDocumented())),
    );
    assert.ok(error.cause instanceof MalformedPushEventError);
    assert.deepEqual(
      error.issues.map((issue) => issue.path),
      ['detail.commitId', 'detail.callerUserArn'],
    );
  });
});

describe('no bad push comes out of any delivery (property)', () => {
  /** Any JSON value, and strings that come close to the rules. */
  const hostileString = fc.oneof(
    fc.string(),
    fc.string({
      unit: fc.constantFrom('a', '.', '/', '-', '@', '{', '\u0000', ' ', 'é', '\u202e', ':', '~'),
    }),
    fc.stringMatching(/^[0-9a-gA-F]{38,41}$/),
    fc.constantFrom(ZERO_SHA, INITIAL_COMMIT, '2019-05-15T15:19:25Z', '2019-02-29T00:00:00Z', 'refs/heads/'),
  );
  const hostileValue = fc.oneof(hostileString, fc.jsonValue(), fc.constant(undefined));

  /** Sets the value at a path of nested objects, creating objects on the way. */
  function withValueAt(event: unknown, path: string[], value: unknown): unknown {
    const copy = structuredClone(event) as Record<string, unknown>;
    let at = copy;
    for (const key of path.slice(0, -1)) {
      if (typeof at[key] !== 'object' || at[key] === null) at[key] = {};
      at = at[key] as Record<string, unknown>;
    }
    at[path.at(-1) as string] = value;
    return copy;
  }

  const githubPaths = [
    ['ref'],
    ['before'],
    ['after'],
    ['created'],
    ['deleted'],
    ['forced'],
    ['head_commit'],
    ['head_commit', 'id'],
    ['head_commit', 'timestamp'],
    ['repository', 'full_name'],
    ['pusher', 'name'],
    ['sender', 'login'],
  ];
  const githubEvents = [
    githubBranchCreated(),
    githubBranchUpdated(),
    githubForcedPush(),
    githubBranchDeleted(),
  ];

  it('GitHub payloads with any of their fields replaced by anything', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...githubEvents),
        fc.array(fc.tuple(fc.constantFrom(...githubPaths), hostileValue), { minLength: 1, maxLength: 4 }),
        fc.oneof(fc.constant(DELIVERY_ID), hostileString),
        (event, changes, deliveryId) => {
          const changed = changes.reduce<unknown>((at, [path, value]) => withValueAt(at, path, value), event);
          assertValidOutcome(() => normalizeGitHubPush(changed, deliveryId, RECEIVED_AT));
        },
      ),
      { numRuns: 3000 },
    );
  });

  const codeCommitPaths = [
    ['id'],
    ['detail-type'],
    ['source'],
    ['time'],
    ['detail'],
    ['detail', 'event'],
    ['detail', 'repositoryName'],
    ['detail', 'referenceType'],
    ['detail', 'referenceName'],
    ['detail', 'referenceFullName'],
    ['detail', 'commitId'],
    ['detail', 'oldCommitId'],
    ['detail', 'callerUserArn'],
  ];
  const codeCommitEvents = [codeCommitBranchCreated(), codeCommitBranchUpdated(), codeCommitBranchDeleted()];

  it('CodeCommit events with any of their fields replaced by anything, also read from the queue', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...codeCommitEvents),
        fc.array(fc.tuple(fc.constantFrom(...codeCommitPaths), hostileValue), { minLength: 1, maxLength: 4 }),
        (event, changes) => {
          const changed = changes.reduce<unknown>((at, [path, value]) => withValueAt(at, path, value), event);
          assertValidOutcome(() => normalizeCodeCommitEvent(changed));
          try {
            const fromQueue = parsePushMessage(JSON.stringify(changed));
            if (!('ignored' in fromQueue)) assert.ok(pushSchema.safeParse(fromQueue).success);
          } catch (error) {
            assert.ok(error instanceof MalformedPushMessageError, String(error));
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('branch names the rules take are never empty, long, dotted-dotted or invisible', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom(
            'a',
            'Z',
            '0',
            '.',
            '/',
            '-',
            '_',
            '@',
            '{',
            '\u0000',
            ' ',
            'é',
            '\u202e',
            '\n',
          ),
          maxLength: 12,
        }),
        (name) => {
          if (branchNameProblem(name) !== undefined) return;
          assert.ok(name.length >= 1 && name.length <= 256);
          assert.ok(!name.includes('..') && !name.includes('//') && !name.includes('@{'));
          assert.ok(![...name].some((c) => c <= ' ' || c === '\u202e'), JSON.stringify(name));
          assert.ok(
            !name.startsWith('/') && !name.endsWith('/') && !name.startsWith('.') && !name.endsWith('.'),
          );
        },
      ),
      { numRuns: 5000 },
    );
  });
});
