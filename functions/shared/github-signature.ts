import { verify } from '@octokit/webhooks-methods';

/**
 * GitHub's X-Hub-Signature-256 as it sends it: `sha256=` and the HMAC-SHA256 of the body in lowercase
 * hex. The legacy X-Hub-Signature (`sha1=`) is not accepted: SHA-1 HMACs are what Kiln does not rely on.
 */
const SIGNATURE_HEADER = /^sha256=[0-9a-f]{64}$/;

/**
 * Whether a webhook delivery was signed with the secret: the HMAC-SHA256 of the body, compared in
 * constant time (`@octokit/webhooks-methods`' verify, timingSafeEqual on equal lengths: the format
 * check fixes the length, so nothing about the secret leaks through timing).
 *
 * @param body the request body exactly as GitHub sent it (decoded from base64 when API Gateway marks it
 *   so), never re-serialised JSON: one byte of difference fails the check.
 * @param signatureHeader X-Hub-Signature-256; missing, empty, `sha1=…` or otherwise malformed → false.
 * @throws TypeError for an empty secret: an HMAC keyed with nothing would accept anyone's signature, so
 *   a missing secret is a configuration error to surface, never a quiet answer either way.
 */
export async function verifyGitHubSignature(
  secret: string,
  body: string,
  signatureHeader: string | undefined,
): Promise<boolean> {
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new TypeError('verifyGitHubSignature needs the webhook secret; it is empty');
  }
  if (typeof signatureHeader !== 'string' || !SIGNATURE_HEADER.test(signatureHeader)) return false;
  // GitHub never signs an empty body, and verify() refuses one with a TypeError.
  if (typeof body !== 'string' || body.length === 0) return false;
  return verify(secret, body, signatureHeader);
}
