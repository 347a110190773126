import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkEventPattern,
  type EventPattern,
  InvalidEventPatternError,
  matchesEventPattern,
} from '../../functions/event-patterns.ts';
import {
  codeCommitBranchCreated,
  codeCommitBranchDeleted,
  codeCommitBranchUpdated,
  codeCommitPullRequestCreated,
  codeCommitTagCreated,
  kilnDeploymentStatusChanged,
} from '../fixtures/eventbridge-events.ts';

const checkoutFailures: EventPattern = {
  source: ['kiln'],
  'detail-type': ['Deployment Status Changed'],
  detail: { team: ['checkout'], status: ['failed'] },
};

const branchPushes: EventPattern = {
  source: ['aws.codecommit'],
  'detail-type': ['CodeCommit Repository State Change'],
  detail: {
    event: ['referenceCreated', 'referenceUpdated', 'referenceDeleted'],
    referenceType: ['branch'],
  },
};

const deployment = (detail: Record<string, unknown>) => kilnDeploymentStatusChanged(detail);
const checkoutFailed = deployment({ team: 'checkout', status: 'failed', environment: 'checkout-staging' });

/** Each row: a pattern, an event, and whether EventBridge delivers that event to the rule. */
const table: { case: string; pattern: EventPattern; event: unknown; matches: boolean }[] = [
  // The Kiln rules
  { case: 'a failed checkout deployment', pattern: checkoutFailures, event: checkoutFailed, matches: true },
  {
    case: 'a failed deployment of another team',
    pattern: checkoutFailures,
    event: deployment({ team: 'payments', status: 'failed' }),
    matches: false,
  },
  {
    case: 'a succeeded checkout deployment',
    pattern: checkoutFailures,
    event: deployment({ team: 'checkout', status: 'succeeded' }),
    matches: false,
  },
  {
    case: 'a checkout deployment event without a status',
    pattern: checkoutFailures,
    event: deployment({ team: 'checkout' }),
    matches: false,
  },
  {
    case: 'the same detail from another source',
    pattern: checkoutFailures,
    event: { ...checkoutFailed, source: 'kiln.test' },
    matches: false,
  },
  {
    case: 'values are case sensitive',
    pattern: checkoutFailures,
    event: deployment({ team: 'Checkout', status: 'failed' }),
    matches: false,
  },
  {
    case: 'an event array intersecting the listed values',
    pattern: checkoutFailures,
    event: deployment({ team: ['payments', 'checkout'], status: 'failed' }),
    matches: true,
  },
  {
    case: 'a branch created in CodeCommit',
    pattern: branchPushes,
    event: codeCommitBranchCreated,
    matches: true,
  },
  {
    case: 'a branch updated in CodeCommit',
    pattern: branchPushes,
    event: codeCommitBranchUpdated,
    matches: true,
  },
  {
    case: 'a branch deleted in CodeCommit',
    pattern: branchPushes,
    event: codeCommitBranchDeleted,
    matches: true,
  },
  { case: 'a tag created in CodeCommit', pattern: branchPushes, event: codeCommitTagCreated, matches: false },
  {
    case: 'a CodeCommit pull request',
    pattern: branchPushes,
    event: codeCommitPullRequestCreated,
    matches: false,
  },

  // prefix / suffix / equals-ignore-case / wildcard
  {
    case: 'prefix on a string',
    pattern: { detail: { referenceFullName: [{ prefix: 'refs/heads/' }] } },
    event: codeCommitBranchCreated,
    matches: true,
  },
  {
    case: 'prefix that does not start the value',
    pattern: { detail: { referenceFullName: [{ prefix: 'refs/tags/' }] } },
    event: codeCommitBranchCreated,
    matches: false,
  },
  {
    case: 'prefix never matches a number',
    pattern: { detail: { count: [{ prefix: '1' }] } },
    event: deployment({ count: 12 }),
    matches: false,
  },
  {
    case: 'prefix ignoring case',
    pattern: { source: [{ prefix: { 'equals-ignore-case': 'AWS.Code' } }] },
    event: codeCommitBranchCreated,
    matches: true,
  },
  {
    case: 'suffix',
    pattern: { resources: [{ suffix: ':MyDemoRepo' }] },
    event: codeCommitBranchCreated,
    matches: true,
  },
  {
    case: 'equals-ignore-case',
    pattern: { detail: { team: [{ 'equals-ignore-case': 'CHECKOUT' }] } },
    event: checkoutFailed,
    matches: true,
  },
  {
    case: 'wildcard',
    pattern: { detail: { environment: [{ wildcard: 'checkout-*' }] } },
    event: checkoutFailed,
    matches: true,
  },
  {
    case: 'wildcard with an escaped star',
    pattern: { detail: { environment: [{ wildcard: 'checkout\\*' }] } },
    event: deployment({ environment: 'checkout*' }),
    matches: true,
  },
  {
    case: 'wildcard not matching',
    pattern: { detail: { environment: [{ wildcard: 'payments-*' }] } },
    event: checkoutFailed,
    matches: false,
  },

  // anything-but
  {
    case: 'anything-but a value, the value',
    pattern: { detail: { status: [{ 'anything-but': 'failed' }] } },
    event: checkoutFailed,
    matches: false,
  },
  {
    case: 'anything-but a value, another value',
    pattern: { detail: { status: [{ 'anything-but': 'failed' }] } },
    event: deployment({ status: 'succeeded' }),
    matches: true,
  },
  {
    case: 'anything-but needs the field to exist',
    pattern: { detail: { status: [{ 'anything-but': 'failed' }] } },
    event: deployment({ team: 'checkout' }),
    matches: false,
  },
  {
    case: 'anything-but a list',
    pattern: { detail: { status: [{ 'anything-but': ['failed', 'rolled_back'] }] } },
    event: deployment({ status: 'rolled_back' }),
    matches: false,
  },
  {
    case: 'anything-but a list of numbers',
    pattern: { detail: { generation: [{ 'anything-but': [1, 2] }] } },
    event: deployment({ generation: 3 }),
    matches: true,
  },
  {
    case: 'anything-but a string matches a value of another type',
    pattern: { detail: { status: [{ 'anything-but': 'failed' }] } },
    event: deployment({ status: null }),
    matches: true,
  },
  {
    case: 'anything-but a prefix',
    pattern: { detail: { environment: [{ 'anything-but': { prefix: 'checkout-pr-' } }] } },
    event: deployment({ environment: 'checkout-pr-412' }),
    matches: false,
  },
  {
    case: 'anything-but a prefix, another value',
    pattern: { detail: { environment: [{ 'anything-but': { prefix: 'checkout-pr-' } }] } },
    event: checkoutFailed,
    matches: true,
  },
  {
    case: 'anything-but a suffix',
    pattern: { detail: { environment: [{ 'anything-but': { suffix: '-staging' } }] } },
    event: checkoutFailed,
    matches: false,
  },
  {
    case: 'anything-but ignoring case',
    pattern: { detail: { status: [{ 'anything-but': { 'equals-ignore-case': ['FAILED'] } }] } },
    event: checkoutFailed,
    matches: false,
  },
  {
    case: 'anything-but on an array: any element outside the excluded values',
    pattern: { detail: { tags: [{ 'anything-but': 'beta' }] } },
    event: deployment({ tags: ['beta', 'canary'] }),
    matches: true,
  },

  // exists
  {
    case: 'exists: true on a present field',
    pattern: { detail: { status: [{ exists: true }] } },
    event: checkoutFailed,
    matches: true,
  },
  {
    case: 'exists: true on a missing field',
    pattern: { detail: { reason: [{ exists: true }] } },
    event: checkoutFailed,
    matches: false,
  },
  {
    case: 'exists: false on a missing field',
    pattern: { detail: { reason: [{ exists: false }] } },
    event: checkoutFailed,
    matches: true,
  },
  {
    case: 'exists: false on a present field',
    pattern: { detail: { status: [{ exists: false }] } },
    event: checkoutFailed,
    matches: false,
  },
  {
    case: 'exists: false when the parent object is missing',
    pattern: { detail: { rollback: { reason: [{ exists: false }] } } },
    event: checkoutFailed,
    matches: true,
  },
  {
    case: 'exists: true on a null value (null is a value)',
    pattern: { detail: { reason: [{ exists: true }] } },
    event: deployment({ reason: null }),
    matches: true,
  },
  {
    case: 'exists only sees leaves: an object is not an existing leaf',
    pattern: { detail: { spec: [{ exists: false }] } },
    event: deployment({ spec: { capacity: 2 } }),
    matches: true,
  },
  {
    case: 'exists: false on an empty array',
    pattern: { resources: [{ exists: false }] },
    event: checkoutFailed,
    matches: true,
  },
  {
    case: 'a missing field with an exists: false alternative',
    pattern: { detail: { reason: ['timeout', { exists: false }] } },
    event: checkoutFailed,
    matches: true,
  },

  // numeric
  {
    case: 'numeric range, inside',
    pattern: { detail: { capacity: [{ numeric: ['>', 0, '<=', 5] }] } },
    event: deployment({ capacity: 5 }),
    matches: true,
  },
  {
    case: 'numeric range, excluded lower bound',
    pattern: { detail: { capacity: [{ numeric: ['>', 0, '<=', 5] }] } },
    event: deployment({ capacity: 0 }),
    matches: false,
  },
  {
    case: 'numeric range, above',
    pattern: { detail: { capacity: [{ numeric: ['>', 0, '<=', 5] }] } },
    event: deployment({ capacity: 5.5 }),
    matches: false,
  },
  {
    case: 'numeric equals',
    pattern: { detail: { capacity: [{ numeric: ['=', 3] }] } },
    event: deployment({ capacity: 3.0 }),
    matches: true,
  },
  {
    case: 'numeric only matches JSON numbers',
    pattern: { detail: { capacity: [{ numeric: ['=', 3] }] } },
    event: deployment({ capacity: '3' }),
    matches: false,
  },
  {
    case: 'numeric on a missing field',
    pattern: { detail: { capacity: [{ numeric: ['>=', 0] }] } },
    event: checkoutFailed,
    matches: false,
  },
  {
    case: 'numeric beyond the comparable range',
    pattern: { detail: { size: [{ numeric: ['>', 0] }] } },
    event: deployment({ size: 6e9 }),
    matches: false,
  },

  // exact values by JSON type, null and empty strings
  {
    case: 'a number matches a number',
    pattern: { detail: { generation: [7] } },
    event: deployment({ generation: 7 }),
    matches: true,
  },
  {
    case: 'a string never matches a number',
    pattern: { detail: { generation: ['7'] } },
    event: deployment({ generation: 7 }),
    matches: false,
  },
  {
    case: 'true matches true only',
    pattern: { detail: { draining: [true] } },
    event: deployment({ draining: 'true' }),
    matches: false,
  },
  {
    case: 'null matches null',
    pattern: { detail: { reason: [null] } },
    event: deployment({ reason: null }),
    matches: true,
  },
  {
    case: 'null does not match an empty string',
    pattern: { detail: { reason: [null] } },
    event: deployment({ reason: '' }),
    matches: false,
  },
  {
    case: 'an empty string matches an empty string',
    pattern: { detail: { reason: [''] } },
    event: deployment({ reason: '' }),
    matches: true,
  },
  {
    case: 'null does not match a missing field',
    pattern: { detail: { reason: [null] } },
    event: checkoutFailed,
    matches: false,
  },

  // arrays of objects, $or, cidr
  {
    case: 'a nested pattern matching one element of an array of objects',
    pattern: { detail: { stacks: { status: ['live'], weight: [100] } } },
    event: deployment({
      stacks: [
        { status: 'draining', weight: 0 },
        { status: 'live', weight: 100 },
      ],
    }),
    matches: true,
  },
  {
    case: 'fields from two elements of an array never combine',
    pattern: { detail: { stacks: { status: ['live'], weight: [0] } } },
    event: deployment({
      stacks: [
        { status: 'draining', weight: 0 },
        { status: 'live', weight: 100 },
      ],
    }),
    matches: false,
  },
  {
    case: '$or, one branch matching',
    pattern: { source: ['kiln'], $or: [{ detail: { status: ['failed'] } }, { detail: { tier: ['prod'] } }] },
    event: checkoutFailed,
    matches: true,
  },
  {
    case: '$or, no branch matching',
    pattern: { $or: [{ detail: { status: ['succeeded'] } }, { detail: { tier: ['prod'] } }] },
    event: checkoutFailed,
    matches: false,
  },
  {
    case: 'cidr, inside the block',
    pattern: { detail: { sourceIp: [{ cidr: '10.0.0.0/24' }] } },
    event: deployment({ sourceIp: '10.0.0.33' }),
    matches: true,
  },
  {
    case: 'cidr, outside the block',
    pattern: { detail: { sourceIp: [{ cidr: '10.0.0.0/24' }] } },
    event: deployment({ sourceIp: '10.0.1.33' }),
    matches: false,
  },
];

describe('matching events against EventBridge patterns', () => {
  for (const row of table) {
    it(`${row.matches ? 'matches' : 'does not match'} ${row.case}`, () => {
      assert.equal(checkEventPattern(row.pattern).length, 0, 'the pattern is valid');
      assert.equal(matchesEventPattern(row.pattern, row.event), row.matches);
    });
  }

  it('refuses to match with a pattern EventBridge would refuse', () => {
    const pattern = { detail: { status: 'failed' } } as unknown as EventPattern;
    assert.throws(() => matchesEventPattern(pattern, checkoutFailed), InvalidEventPatternError);
  });
});

/** Patterns EventBridge refuses (or that the embedded bus could only treat differently): each problem is named. */
const refused: { case: string; pattern: unknown; problem: RegExp }[] = [
  { case: 'a pattern that is not an object', pattern: ['kiln'], problem: /must be a JSON object/ },
  { case: 'an empty pattern', pattern: {}, problem: /empty objects are not allowed/ },
  {
    case: 'a leaf that is not an array',
    pattern: { source: 'kiln' },
    problem: /source: must be an object or an array/,
  },
  { case: 'an empty leaf', pattern: { source: [] }, problem: /source: empty arrays/ },
  { case: 'a nested array in a leaf', pattern: { source: [['kiln']] }, problem: /match values must be/ },
  {
    case: 'an unknown operator',
    pattern: { source: [{ contains: 'kiln' }] },
    problem: /unknown operator "contains"/,
  },
  {
    case: 'an operator object with two keys',
    pattern: { source: [{ prefix: 'k', suffix: 'n' }] },
    problem: /exactly one key/,
  },
  {
    case: 'a prefix that is not a string',
    pattern: { source: [{ prefix: 1 }] },
    problem: /prefix takes a string/,
  },
  {
    case: 'numeric that is not an array',
    pattern: { detail: { n: [{ numeric: '>5' }] } },
    problem: /takes an array/,
  },
  {
    case: 'numeric with an unknown operator',
    pattern: { detail: { n: [{ numeric: ['!=', 5] }] } },
    problem: /unknown numeric operator "!="/,
  },
  {
    case: 'numeric with a string value',
    pattern: { detail: { n: [{ numeric: ['>', '5'] }] } },
    problem: /value of > must be a number/,
  },
  {
    case: 'numeric with bounds in the wrong order',
    pattern: { detail: { n: [{ numeric: ['>', 5, '<', 1] }] } },
    problem: /lower bound must be below/,
  },
  {
    case: 'numeric starting with an upper bound',
    pattern: { detail: { n: [{ numeric: ['<', 5, '>', 1] }] } },
    problem: /range starts with > or >=/,
  },
  {
    case: 'numeric with terms after "="',
    pattern: { detail: { n: [{ numeric: ['=', 5, '<', 9] }] } },
    problem: /too many terms/,
  },
  {
    case: 'numeric beyond ±5e9',
    pattern: { detail: { n: [{ numeric: ['>', 6e9] }] } },
    problem: /limited to/,
  },
  {
    case: 'exists that is not a boolean',
    pattern: { detail: { n: [{ exists: 'yes' }] } },
    problem: /exists takes true or false/,
  },
  {
    case: 'anything-but mixing strings and numbers',
    pattern: { detail: { n: [{ 'anything-but': ['a', 1] }] } },
    problem: /only strings or only numbers/,
  },
  {
    case: 'anything-but an empty prefix',
    pattern: { detail: { n: [{ 'anything-but': { prefix: '' } }] } },
    problem: /prefix takes a non-empty string/,
  },
  {
    case: 'anything-but of an unsupported operator',
    pattern: { detail: { n: [{ 'anything-but': { numeric: ['>', 1] } }] } },
    problem: /unsupported anything-but pattern "numeric"/,
  },
  {
    case: 'a wildcard with consecutive stars',
    pattern: { detail: { n: [{ wildcard: 'a**b' }] } },
    problem: /consecutive wildcard/,
  },
  { case: 'a malformed cidr', pattern: { detail: { ip: [{ cidr: '10.0.0.0/33' }] } }, problem: /cidr takes/ },
  {
    case: '$or with one branch',
    pattern: { $or: [{ source: ['kiln'] }] },
    problem: /at least two pattern objects/,
  },
  {
    case: 'an operator name as a field inside $or',
    pattern: { $or: [{ prefix: ['a'] }, { source: ['kiln'] }] },
    problem: /"prefix" is an operator, not a field name/,
  },
];

describe('checking event patterns', () => {
  for (const row of refused) {
    it(`refuses ${row.case}`, () => {
      const problems = checkEventPattern(row.pattern);
      assert.ok(
        problems.some((problem) => row.problem.test(problem)),
        `expected a problem matching ${row.problem}, got ${JSON.stringify(problems)}`,
      );
    });
  }

  it('finds no problem in the Kiln rule patterns', () => {
    assert.deepEqual(checkEventPattern(checkoutFailures), []);
    assert.deepEqual(checkEventPattern(branchPushes), []);
  });

  it('lists every problem of a pattern, each at its path', () => {
    const problems = checkEventPattern({ source: 'kiln', detail: { n: [{ numeric: ['>'] }], m: [] } });
    assert.equal(problems.length, 3);
    assert.match(problems.join('\n'), /^source: /m);
    assert.match(problems.join('\n'), /^detail\.n: numeric/m);
    assert.match(problems.join('\n'), /^detail\.m: empty arrays/m);
  });
});
