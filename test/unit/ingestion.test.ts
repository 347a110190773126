import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { branchKey, branchMatches, newestPerBranch, previewName } from '../../functions/core/ingestion.ts';
import type { Push } from '../../functions/core/pushes.ts';
import { environmentName, templateName } from '../../functions/shared/api-schemas.ts';
import { branchNameProblem } from '../../functions/shared/push-events.ts';

function push(overrides: Partial<Push>): Push {
  return {
    provider: 'github',
    repository: 'acme/shop',
    branch: 'main',
    change: 'updated',
    commit: 'a'.repeat(40),
    committedAt: '2026-12-01T10:00:00.000Z',
    forced: false,
    pusher: 'octocat',
    deliveryId: crypto.randomUUID(),
    receivedAt: '2026-12-01T10:00:01.000Z',
    ...overrides,
  };
}

const at = (minute: number) => new Date(Date.UTC(2026, 11, 1, 10, minute)).toISOString();

describe('newestPerBranch', () => {
  it('picks the newest commit of each branch, whatever order the pushes were delivered in', () => {
    const newest = push({ commit: 'c'.repeat(40), committedAt: at(30) });
    const batch = [
      push({ commit: 'b'.repeat(40), committedAt: at(20) }),
      newest,
      push({ commit: 'a'.repeat(40), committedAt: at(10) }),
      push({ branch: 'other', committedAt: at(5) }),
    ];
    const chosen = newestPerBranch(batch);
    assert.equal(chosen.get(branchKey(newest)), newest);
    assert.equal(chosen.get(branchKey({ ...newest, branch: 'other' }))?.committedAt, at(5));
    assert.equal(chosen.size, 2);
  });

  it('lets a force-push delivered later go back in time, as the ordering rule does', () => {
    const forced = push({ commit: 'f'.repeat(40), committedAt: at(1), forced: true });
    const chosen = newestPerBranch([push({ committedAt: at(30) }), forced]);
    assert.equal(chosen.get(branchKey(forced)), forced);
  });

  it('keeps branches of different repositories and providers apart', () => {
    const pushes = [
      push({ repository: 'acme/shop' }),
      push({ repository: 'acme/cart' }),
      push({ provider: 'codecommit', repository: 'shop' }),
    ];
    assert.equal(newestPerBranch(pushes).size, 3);
  });

  it('never picks a push some other push of its branch is newer than (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ branch: fc.constantFrom('a', 'b', 'c'), minute: fc.nat(59) })),
        (items) => {
          const pushes = items.map(({ branch, minute }) => push({ branch, committedAt: at(minute) }));
          const chosen = newestPerBranch(pushes);
          for (const p of pushes) {
            const winner = chosen.get(branchKey(p));
            assert.ok(winner && Date.parse(winner.committedAt) >= Date.parse(p.committedAt));
          }
        },
      ),
    );
  });
});

describe('branchMatches', () => {
  const cases: [string, string, boolean][] = [
    ['feature/*', 'feature/login', true],
    ['feature/*', 'feature/a/b', false],
    ['feature/*', 'feature', false],
    ['feature/**', 'feature/a/b', true],
    ['release-?', 'release-1', true],
    ['release-?', 'release-10', false],
    ['main', 'main', true],
    ['main', 'main2', false],
    ['v1.*', 'v1x2', false],
    ['v1.*', 'v1.2', true],
    ['(a|b)', 'a', false],
  ];
  for (const [glob, branch, expected] of cases) {
    it(`${glob} ${expected ? 'matches' : 'does not match'} ${branch}`, () => {
      assert.equal(branchMatches(glob, branch), expected);
    });
  }
});

describe('previewName', () => {
  it('is readable: the template, a slug of the branch and a short hash', () => {
    assert.match(previewName('web', 'feature/login'), /^web-feature-login-[0-9a-f]{6}$/);
  });

  it('tells apart branches whose slugs are the same', () => {
    assert.notEqual(previewName('web', 'feat/a'), previewName('web', 'feat-a'));
    assert.notEqual(previewName('web', 'Feat/A'), previewName('web', 'feat/a'));
  });

  it('is a valid environment name for any template and branch Kiln accepts, stable and within 40 characters (property)', () => {
    const validTemplate = fc.stringMatching(/^[a-z][a-z0-9-]{1,18}[a-z0-9]$/);
    const validBranch = fc
      .string({ minLength: 1, maxLength: 256, unit: 'grapheme' })
      .filter((branch) => branchNameProblem(branch) === undefined);
    fc.assert(
      fc.property(validTemplate, validBranch, (template, branch) => {
        assert.ok(templateName.safeParse(template).success);
        const name = previewName(template, branch);
        assert.ok(
          environmentName.safeParse(name).success,
          `${name} from ${template} and ${JSON.stringify(branch)}`,
        );
        assert.ok(name.startsWith(`${template}-`));
        assert.equal(previewName(template, branch), name);
      }),
    );
  });
});
