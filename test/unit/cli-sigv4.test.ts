import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import { sigV4Auth } from '../../cli/auth.ts';
import { kilnClient } from '../../cli/client.ts';

const KILN_CLI = resolve(import.meta.dirname, '../../cli/kiln.mjs');
const CREDENTIALS = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  sessionToken: 'session-token-example',
};
const REGION = 'eu-west-1';

interface Received {
  authorization: string;
  /** The signature API Gateway would compute from what arrived, with the same secret. */
  expected: string;
  path: string;
  body: string;
  headers: IncomingMessage['headers'];
}

/**
 * What API Gateway does with a SigV4 request, reduced to the check: recompute the signature from what
 * arrived over the wire (method, path, query, the headers the request says it signed, the body) with
 * the caller's secret, and compare.
 */
async function expectedAuthorization(request: IncomingMessage, body: string): Promise<string> {
  const url = new URL(request.url ?? '/', `http://${request.headers.host}`);
  const signedNames =
    /SignedHeaders=([^,]+)/.exec(request.headers.authorization ?? '')?.[1]?.split(';') ?? [];
  const headers = Object.fromEntries(signedNames.map((name) => [name, String(request.headers[name])]));
  const amzDate = String(request.headers['x-amz-date']);
  const signingDate = new Date(
    amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
  );
  const signer = new SignatureV4({
    service: 'execute-api',
    region: REGION,
    credentials: CREDENTIALS,
    sha256: Sha256,
  });
  const signed = await signer.sign(
    {
      method: request.method ?? 'GET',
      protocol: 'http:',
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      ...(body ? { body } : {}),
    },
    { signingDate },
  );
  return signed.headers.authorization ?? '';
}

describe('kiln signs its requests with SigV4 for API Gateway', () => {
  let server: Server;
  let url: string;
  const received: Received[] = [];

  before(async () => {
    server = createServer(async (request, response) => {
      let body = '';
      for await (const chunk of request) body += chunk;
      received.push({
        authorization: request.headers.authorization ?? '',
        expected: await expectedAuthorization(request, body),
        path: request.url ?? '',
        body,
        headers: request.headers,
      });
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"environments":[]}');
    });
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prod`;
  });

  after(() => new Promise<void>((done) => server.close(() => done())));

  it('sends an Authorization header of the SigV4 shape, whose signature matches what arrived', async () => {
    received.length = 0;
    const client = kilnClient(
      url,
      sigV4Auth(REGION, async () => CREDENTIALS),
    );
    await client.send('POST', '/environments/shop-dev/deployments', {
      query: { limit: '5', note: 'a b/c' },
      body: { version: '2.0.0', reason: 'ünïcode & spaces' },
    });
    const [request] = received;
    assert.ok(request);
    assert.equal(request.path, '/prod/environments/shop-dev/deployments?limit=5&note=a%20b%2Fc');
    assert.match(
      request.authorization,
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]*\bhost\b[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(request.authorization)?.[1]?.split(';');
    for (const name of ['host', 'x-amz-date', 'x-amz-security-token', 'content-type']) {
      assert.ok(signedHeaders?.includes(name), `${name} is signed`);
    }
    assert.equal(request.headers['x-amz-security-token'], CREDENTIALS.sessionToken);
    assert.equal(
      request.authorization,
      request.expected,
      'the signature verifies against the request as received',
    );
    assert.deepEqual(JSON.parse(request.body), { version: '2.0.0', reason: 'ünïcode & spaces' });
  });

  it('finds its credentials through the standard chain when run as `kiln` (here: the AWS_* variables)', async () => {
    received.length = 0;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [KILN_CLI, 'env', 'ls', '--auth', 'sigv4', '--url', url, '-o', 'json'],
      {
        env: {
          PATH: process.env.PATH,
          AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
          AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
          AWS_REGION: REGION,
          // Nothing but the variables may answer: no profile files, no instance metadata.
          AWS_CONFIG_FILE: '/nonexistent',
          AWS_SHARED_CREDENTIALS_FILE: '/nonexistent',
          AWS_EC2_METADATA_DISABLED: 'true',
        },
      },
    );
    assert.deepEqual(JSON.parse(stdout), { environments: [] });
    const [request] = received;
    assert.ok(request);
    assert.equal(request.path, '/prod/environments');
    assert.match(
      request.authorization,
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\//,
    );
    assert.equal(request.authorization, request.expected);
    assert.equal(request.headers['x-amz-security-token'], CREDENTIALS.sessionToken);
  });
});
