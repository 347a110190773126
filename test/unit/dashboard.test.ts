import assert from 'node:assert/strict';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import { DASHBOARD_ASSETS, dashboardContentSecurityPolicy } from '../../infra/dashboard-assets.ts';
import { kilnApi, regionOfHost } from '../../ui/api.js';
import { formatDuration, timelineOf } from '../../ui/timeline.js';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

describe('dashboard timeline', () => {
  it('places each step on a shared axis, in the order the steps started', () => {
    const { bars, ticks } = timelineOf(
      {
        status: 'succeeded',
        requestedAt: at(0),
        endedAt: at(10_000),
        steps: [
          { name: 'CutOver', startedAt: at(6000), endedAt: at(7000) },
          { name: 'ProvisionStack', startedAt: at(1000), endedAt: at(6000), detail: 'shop-v0002' },
        ],
      },
      T0 + 60_000,
    );
    assert.deepEqual(
      bars.map(({ name, offset, width, running }) => ({ name, offset, width, running })),
      [
        { name: 'ProvisionStack', offset: 0.1, width: 0.5, running: false },
        { name: 'CutOver', offset: 0.6, width: 0.1, running: false },
      ],
    );
    assert.equal(bars[0]?.detail, 'shop-v0002');
    // A finished deployment's axis ends when it ended, whatever the time now: 10 s in ticks of 2 s.
    assert.deepEqual(
      ticks.map((tick) => tick.label),
      ['0', '+2 s', '+4 s', '+6 s', '+8 s', '+10 s'],
    );
  });

  it('draws an open bar from the last recorded step to now while the deployment runs', () => {
    const { bars } = timelineOf(
      {
        status: 'running',
        requestedAt: at(0),
        startedAt: at(500),
        steps: [{ name: 'AcquireLease', startedAt: at(500), endedAt: at(1000) }],
      },
      T0 + 4000,
    );
    assert.deepEqual(bars.at(-1), {
      name: 'in progress',
      offset: 0.25,
      width: 0.75,
      durationMs: 3000,
      running: true,
    });
  });

  it('shows a deployment with no step yet as waiting since it was requested', () => {
    const { bars } = timelineOf({ status: 'awaiting_approval', requestedAt: at(0) }, T0 + 30_000);
    assert.deepEqual(
      bars.map(({ name, offset, width }) => ({ name, offset, width })),
      [{ name: 'awaiting approval', offset: 0, width: 1 }],
    );
  });

  it('keeps the axis to a few readable ticks however long the deployment took', () => {
    for (const span of [1000, 7000, 95_000, 3_600_000, 90_000_000]) {
      const { ticks } = timelineOf({ status: 'succeeded', requestedAt: at(0), endedAt: at(span) }, T0);
      assert.ok(ticks.length >= 2 && ticks.length <= 7, `${span} ms: ${ticks.length} ticks`);
    }
  });

  it('says how long a step took in the unit a person reads', () => {
    assert.deepEqual([40, 2400, 12_000, 125_000, 3_780_000, 7_200_000].map(formatDuration), [
      '40 ms',
      '2.4 s',
      '12 s',
      '2 min 5 s',
      '1 h 3 min',
      '2 h',
    ]);
  });
});

describe('dashboard files', () => {
  it('are all there, each under one plain name', () => {
    for (const asset of DASHBOARD_ASSETS) {
      assert.ok(existsSync(asset.file), asset.file);
      assert.match(asset.name, /^([a-z0-9-]+\.[a-z]+)?$/);
    }
  });

  it("let the page's one inline script (the import map) run by its hash, and nothing else inline", () => {
    const page = readFileSync(DASHBOARD_ASSETS[0]?.file ?? '', 'utf8');
    const inline = [...page.matchAll(/<script([^>]*)>([^<]*)<\/script>/g)].filter(
      ([, attributes]) => !/src=/.test(attributes ?? ''),
    );
    assert.equal(inline.length, 1);
    const hash = createHash('sha256')
      .update(inline[0]?.[2] ?? '')
      .digest('base64');
    const policy = dashboardContentSecurityPolicy();
    assert.match(policy, /default-src 'none'/);
    assert.ok(policy.includes(`script-src 'self' 'sha256-${hash}'`), policy);
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/);
  });
});

/** SHA-256 and HMAC-SHA256 for the AWS SDK's signer, from node:crypto. */
class Sha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret
      ? createHmac('sha256', typeof secret === 'string' ? secret : new Uint8Array(secret as ArrayBuffer))
      : createHash('sha256');
  }
  update(data: string | ArrayBuffer | ArrayBufferView) {
    this.hash.update(
      typeof data === 'string'
        ? data
        : ArrayBuffer.isView(data)
          ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
          : new Uint8Array(data),
    );
  }
  async digest() {
    return new Uint8Array(this.hash.digest());
  }
}

/** Answers 200 `{}` and hands over the one request it got, with its body. */
async function captureOneRequest(run: (base: string) => Promise<unknown>) {
  let captured: { request: IncomingMessage; body: string } | undefined;
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      captured = { request, body };
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`);
  } finally {
    server.close();
  }
  assert.ok(captured);
  return captured;
}

describe('dashboard API client', () => {
  it('signs a request with SigV4 for execute-api as the AWS SDK would, session token included', async () => {
    const credentials = {
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
      sessionToken: 'session-token-of-kiln-team-platform',
    };
    const { request, body } = await captureOneRequest((base) =>
      kilnApi(base, { kind: 'aws', ...credentials, region: 'eu-west-1' }).post(
        'environments/shop-dev/deployments',
        {
          version: '2.0.0',
        },
      ),
    );
    assert.equal(request.url, '/v1/environments/shop-dev/deployments');
    assert.equal(request.headers.authorization?.startsWith('AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/'), true);
    assert.equal(request.headers['x-amz-security-token'], credentials.sessionToken);
    // The signature the AWS SDK makes over the same signed headers, body and time must be the same.
    const signedHeaders =
      /SignedHeaders=([^,]+)/.exec(request.headers.authorization ?? '')?.[1]?.split(';') ?? [];
    assert.ok(signedHeaders.includes('x-amz-security-token') && signedHeaders.includes('x-amz-date'));
    const amzDate = String(request.headers['x-amz-date']);
    const signer = new SignatureV4({
      credentials,
      region: 'eu-west-1',
      service: 'execute-api',
      sha256: Sha256,
      applyChecksum: false,
    });
    const expected = await signer.sign(
      {
        method: 'POST',
        protocol: 'http:',
        hostname: '127.0.0.1',
        port: Number(new URL(`http://${request.headers.host}`).port),
        path: '/v1/environments/shop-dev/deployments',
        query: {},
        headers: Object.fromEntries(signedHeaders.map((name) => [name, String(request.headers[name])])),
        body,
      },
      {
        signingDate: new Date(
          amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
        ),
      },
    );
    assert.equal(request.headers.authorization, expected.headers.authorization);
  });

  it('sends the bearer token in the Authorization header only, never in the URL', async () => {
    const { request } = await captureOneRequest((base) =>
      kilnApi(base, { kind: 'token', token: 'kiln-dev-token' }).get('environments?limit=5'),
    );
    assert.equal(request.headers.authorization, 'Bearer kiln-dev-token');
    assert.equal(request.url, '/v1/environments?limit=5');
  });

  it("reads the region from an API Gateway host name, and nothing from another's", () => {
    assert.equal(regionOfHost('a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com'), 'eu-central-1');
    assert.equal(regionOfHost('127.0.0.1'), '');
  });
});
