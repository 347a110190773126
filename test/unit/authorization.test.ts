import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { type Action, authorize } from '../../functions/core/actors.ts';
import { callerOfPrincipal, type Role, teamRoleName } from '../../functions/core/caller.ts';
import { httpStatusOf } from '../../functions/shared/http.ts';
import { DEFAULT_TOKENS, parseTokens } from '../../infra/local/config.ts';
import { OWNER, readMatrix } from '../support/matrix.ts';

describe('callers from IAM principals', () => {
  it('reads team, roles and person from a session of a kiln-team-<team>[+<role>...] role', () => {
    assert.deepEqual(callerOfPrincipal('arn:aws:sts::123456789012:assumed-role/kiln-team-checkout/alice'), {
      principal: 'arn:aws:sts::123456789012:assumed-role/kiln-team-checkout/alice',
      team: 'checkout',
      person: 'alice',
      roles: [],
    });
    const both =
      'arn:aws:sts::123456789012:assumed-role/kiln-team-checkout+freeze-manager+approver/bo@example.com';
    assert.deepEqual(callerOfPrincipal(both)?.roles, ['freeze-manager', 'approver']);
    assert.equal(callerOfPrincipal(both)?.person, 'bo@example.com');
  });

  it('reads an IAM user under the path /kiln-team-<team>[+<role>...]/, the person its name', () => {
    const caller = callerOfPrincipal('arn:aws-us-gov:iam::123456789012:user/kiln-team-search+approver/carol');
    assert.deepEqual(caller && { team: caller.team, person: caller.person, roles: caller.roles }, {
      team: 'search',
      person: 'carol',
      roles: ['approver'],
    });
  });

  it('knows no caller in a principal without a person, with an unknown or repeated role, or of no Kiln team', () => {
    for (const principal of [
      'arn:aws:iam::123456789012:role/kiln-team-payments',
      'arn:aws:iam::123456789012:user/kiln-team-search',
      'arn:aws:sts::123456789012:assumed-role/kiln-team-checkout+admin/alice',
      'arn:aws:sts::123456789012:assumed-role/kiln-team-checkout+approver+approver/alice',
      'arn:aws:sts::123456789012:assumed-role/kiln-team-checkout/a',
      'arn:aws:sts::123456789012:assumed-role/Admin/alice',
      'arn:aws:iam::123456789012:role/not-kiln-team-x',
      '',
    ]) {
      assert.equal(callerOfPrincipal(principal), undefined, principal);
    }
  });

  it('names the role of a team and roles in one order, which reads back the same', () => {
    const name = teamRoleName('shop', ['freeze-manager', 'approver']);
    assert.equal(name, 'kiln-team-shop+approver+freeze-manager');
    assert.deepEqual(callerOfPrincipal(`arn:aws:sts::000000000000:assumed-role/${name}/dev`)?.roles, [
      'approver',
      'freeze-manager',
    ]);
  });
});

describe('KILN_TOKENS', () => {
  it('maps token=team:person[:role+role] to the person, team and roles', () => {
    const tokens = parseTokens(
      't1=shop:alice:approver+freeze-manager, t2=shop:bob, t3=ops:carol:freeze-manager',
    );
    assert.deepEqual(tokens.get('t1'), {
      team: 'shop',
      person: 'alice',
      roles: ['approver', 'freeze-manager'],
    });
    assert.deepEqual(tokens.get('t2'), { team: 'shop', person: 'bob', roles: [] });
    assert.deepEqual(tokens.get('t3'), { team: 'ops', person: 'carol', roles: ['freeze-manager'] });
    assert.deepEqual(parseTokens(DEFAULT_TOKENS).get('kiln-dev-token'), {
      team: 'platform',
      person: 'dev',
      roles: [],
    });
  });

  it('gives an old token=team entry a member named by the token’s fingerprint, never the token', () => {
    const holder = parseTokens('s3cret-one=shop,s3cret-two=shop');
    const one = holder.get('s3cret-one');
    assert.match(one?.person ?? '', /^token-[0-9a-f]{12}$/);
    assert.notEqual(one?.person, holder.get('s3cret-two')?.person);
    assert.deepEqual(one?.roles, []);
    assert.ok(!JSON.stringify(one).includes('s3cret'));
  });

  it('stops startup on a malformed entry, naming it by position and never showing the token', () => {
    for (const [value, reason] of [
      ['s3cret', /entry 1 is not token=/],
      ['ok=shop,s3cret=Shop', /entry 2 names no valid team/],
      ['s3cret=shop:', /entry 1 for team shop names no valid person/],
      ['s3cret=shop:a', /names no valid person/],
      ['s3cret=shop:al:ice', /has roles that are not approver and freeze-manager/],
      ['s3cret=shop:alice:admin', /has roles that are not/],
      ['s3cret=shop:alice:approver+approver', /each once/],
      ['s3cret=shop:alice:approver:x', /has roles that are not/],
      ['s3cret=shop,s3cret=ops', /entry 2 repeats an earlier token/],
      ['s3cret=shop=ops', /is not token=/],
      [' , ', /names no token/],
    ] as const) {
      assert.throws(
        () => parseTokens(value),
        (error: Error) => reason.test(error.message) && !error.message.includes('s3cret'),
        value,
      );
    }
  });
});

describe('authorize, against every cell of docs/authorization.md (planned routes too)', () => {
  const rows = readMatrix(readFileSync(resolve(import.meta.dirname, '../../docs/authorization.md'), 'utf8'));
  for (const row of rows.filter((r) => r.action.includes(':'))) {
    for (const cell of row.cells) {
      it(`${row.method} ${row.path} (${row.action}) as ${cell.role} of the ${cell.side} team: ${cell.status}`, () => {
        const roles: Role[] = cell.role === 'member' ? [] : [cell.role];
        const actor = { principal: 'pat', team: cell.side === 'own' ? OWNER : 'other', roles };
        let status = cell.status < 400 ? cell.status : 0;
        try {
          authorize(actor, row.action as Action, { name: 'shop-prod', team: OWNER });
        } catch (error) {
          status = httpStatusOf(error);
        }
        assert.equal(status, cell.status);
      });
    }
  }

  it('lets what is not a person (a push, a schedule, a repair) through: they carry no team', () => {
    assert.doesNotThrow(() =>
      authorize({ principal: 'kiln-idle-sweep' }, 'environment:change', { name: 'shop-prod', team: OWNER }),
    );
  });

  it('says which role an action needs and what the caller holds', () => {
    assert.throws(
      () =>
        authorize({ principal: 'pat', team: OWNER, roles: ['approver'] }, 'freeze:manage', {
          name: 'xmas',
          team: OWNER,
        }),
      /^ForbiddenError: managing freeze xmas needs the freeze-manager role in team platform; pat holds approver$/,
    );
  });
});
