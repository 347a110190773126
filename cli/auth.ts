import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Authorizer } from './client.ts';

/** An AWS credential provider, as SignatureV4 takes it (the CLI passes the standard chain). */
export type CredentialProvider = ConstructorParameters<typeof SignatureV4>[0]['credentials'];

/** The embedded Kiln's way: `Authorization: Bearer <token>` (a token of KILN_TOKENS). */
export function bearerAuth(token: string): Authorizer {
  return async () => ({ authorization: `Bearer ${token}` });
}

/**
 * API Gateway's way (IAM auth): the request signed with SigV4 for `execute-api` in `region`, by the
 * credentials `credentials` provides (resolved on the first request, then cached by the provider).
 * What is signed is exactly what is sent: the method, the URL's path and query, its host, the body.
 */
export function sigV4Auth(region: string, credentials: CredentialProvider): Authorizer {
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
  return async ({ method, url, headers, body }) => {
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      // fetch sends the URL's host: sign that one.
      headers: { ...headers, host: url.host },
      body,
    });
    // fetch sets Host itself (and refuses to be told it).
    const { host: _host, ...toSend } = signed.headers;
    return toSend;
  };
}

/** `<api-id>.execute-api.<region>.amazonaws.com`: API Gateway's own host names, which carry the region. */
const EXECUTE_API_HOST = /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;

/** The region of an API Gateway URL (`https://abc123.execute-api.eu-west-1.amazonaws.com/prod`); undefined for any other host. */
export function executeApiRegionOf(url: URL): string | undefined {
  return EXECUTE_API_HOST.exec(url.hostname)?.[1];
}
