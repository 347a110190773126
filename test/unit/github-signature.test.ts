import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { sign } from '@octokit/webhooks-methods';
import fc from 'fast-check';
import { verifyGitHubSignature } from '../../functions/shared/github-signature.ts';
import { githubBranchCreated } from '../fixtures/push-events.ts';

const SECRET = 'kiln-webhook-secret-2f6c1d';
/** A delivery body as GitHub sends it: compact JSON of a real push payload. */
const BODY = JSON.stringify(githubBranchCreated());

describe('GitHub webhook signatures', () => {
  it('accepts GitHub’s documented example (secret, payload and X-Hub-Signature-256)', async () => {
    assert.equal(
      await verifyGitHubSignature(
        "It's a Secret to Everybody",
        'Hello, World!',
        'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
      ),
      true,
    );
  });

  it('accepts a real push payload signed with the secret', async () => {
    assert.equal(await verifyGitHubSignature(SECRET, BODY, await sign(SECRET, BODY)), true);
  });

  it('signs the UTF-8 bytes of bodies beyond ASCII', async () => {
    const body = JSON.stringify({ ...githubBranchCreated(), ref: 'refs/heads/café-🐛' });
    const signature = `sha256=${createHmac('sha256', SECRET).update(Buffer.from(body, 'utf8')).digest('hex')}`;
    assert.equal(await verifyGitHubSignature(SECRET, body, signature), true);
  });

  it('refuses a tampered body', async () => {
    const signature = await sign(SECRET, BODY);
    const tampered = [
      BODY.replace('"forced":false', '"forced":true'),
      BODY.replace('refs/heads/master', 'refs/heads/masteR'),
      `${BODY}\n`,
      ` ${BODY}`,
      JSON.stringify(JSON.parse(BODY), null, 2),
      BODY.slice(0, -1),
    ];
    for (const body of tampered) assert.equal(await verifyGitHubSignature(SECRET, body, signature), false);
  });

  it('refuses a signature made with another secret', async () => {
    for (const other of [`${SECRET}x`, SECRET.slice(1), SECRET.toUpperCase(), ' ']) {
      assert.equal(await verifyGitHubSignature(SECRET, BODY, await sign(other, BODY)), false);
    }
  });

  it('refuses the legacy SHA-1 signature, even when it is right', async () => {
    const sha1 = `sha1=${createHmac('sha1', SECRET).update(BODY).digest('hex')}`;
    assert.equal(await verifyGitHubSignature(SECRET, BODY, sha1), false);
    const hex = createHmac('sha256', SECRET).update(BODY).digest('hex');
    assert.equal(await verifyGitHubSignature(SECRET, BODY, `sha1=${hex}`), false);
  });

  it('refuses missing and malformed headers', async () => {
    const hex = createHmac('sha256', SECRET).update(BODY).digest('hex');
    const headers = [
      undefined,
      '',
      'sha256=',
      hex,
      `SHA256=${hex}`,
      `sha256=${hex.toUpperCase()}`,
      ` sha256=${hex}`,
      `sha256=${hex} `,
      `sha256=${hex}\n`,
      `sha256=${hex.slice(1)}`,
      `sha256=${hex}0`,
      `sha256=${'z'.repeat(64)}`,
      `sha256=${hex},sha256=${hex}`,
      `sha256=${'0'.repeat(1_000_000)}`,
    ];
    for (const header of headers) {
      assert.equal(
        await verifyGitHubSignature(SECRET, BODY, header),
        false,
        JSON.stringify(header?.slice(0, 80)),
      );
    }
    assert.equal(await verifyGitHubSignature(SECRET, BODY, `sha256=${hex}`), true);
  });

  it('refuses an empty body, which GitHub never signs', async () => {
    const emptySignature = `sha256=${createHmac('sha256', SECRET).update('').digest('hex')}`;
    assert.equal(await verifyGitHubSignature(SECRET, '', emptySignature), false);
  });

  it('will not check anything against an empty secret', async () => {
    await assert.rejects(verifyGitHubSignature('', BODY, await sign(SECRET, BODY)), TypeError);
  });

  it('accepts a signature exactly when the secret makes it (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1 }),
        fc.string({ minLength: 1 }),
        fc.string({ minLength: 1 }),
        async (secret, body, otherSecret) => {
          const signature = await sign(secret, body);
          assert.equal(await verifyGitHubSignature(secret, body, signature), true);
          // Not `otherSecret === secret`: HMAC pads keys with zeros, so "k" and "k\0" sign alike.
          assert.equal(
            await verifyGitHubSignature(otherSecret, body, signature),
            (await sign(otherSecret, body)) === signature,
          );
        },
      ),
      { numRuns: 300 },
    );
  });
});
