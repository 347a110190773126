import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import type { KilnClient } from '../../cli/client.ts';
import { DEFAULT_URL, readCliConfig } from '../../cli/config.ts';
import { FREEZE_FILE, readResourceFile } from '../../cli/environment-file.ts';
import { UsageError } from '../../cli/errors.ts';
import { EXIT, exitCodeOf, isOutcome } from '../../cli/exit-codes.ts';
import { watchDeployment } from '../../cli/watch.ts';
import { type DeploymentRecord, formatDuration, PlainView, watchViewFor } from '../../cli/watch-view.ts';
import type { DeploymentStatus } from '../../functions/core/types.ts';
import { DEV_TOKEN } from '../../infra/local/config.ts';

/** A stream that keeps what is written; a terminal's cursor methods when `tty`. */
class Capture extends Writable {
  text = '';
  readonly isTTY: boolean;
  readonly columns = 120;

  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }

  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }

  // What ora calls to redraw its line on a terminal.
  cursorTo(): boolean {
    this.text += '\u001b[G';
    return true;
  }

  moveCursor(): boolean {
    this.text += '\u001b[1A';
    return true;
  }

  clearLine(): boolean {
    this.text += '\u001b[K';
    return true;
  }
}

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

/** A deployment as the API shows it, `steps` of [name, start ms, end ms] after T0. */
function deployment(status: DeploymentStatus, steps: [string, number, number][] = []): DeploymentRecord {
  return {
    id: 'd-1',
    environment: 'shop',
    action: 'deploy',
    version: '2.0.0',
    status,
    requestedAt: at(0),
    startedAt: at(0),
    ...(isOutcome(status) ? { endedAt: at(5200) } : {}),
    ...(status === 'rolled_back'
      ? { error: { name: 'StackNotHealthyError', message: 'not healthy within 5s' } }
      : {}),
    steps: steps.map(([name, start, end]) => ({ name, startedAt: at(start), endedAt: at(end) })),
  };
}

describe('kiln exit codes', () => {
  it('give each kind of outcome its own code and success 0', () => {
    assert.equal(exitCodeOf('succeeded'), EXIT.ok);
    assert.equal(exitCodeOf('failed'), EXIT.failed);
    assert.equal(exitCodeOf('rolled_back'), EXIT.failed);
    assert.equal(exitCodeOf('cancelled'), EXIT.cancelled);
    assert.equal(exitCodeOf('rejected'), EXIT.rejected);
    assert.equal(exitCodeOf('expired'), EXIT.rejected);
    assert.equal(exitCodeOf('superseded'), EXIT.superseded);
    const codes = [
      EXIT.ok,
      EXIT.apiError,
      EXIT.usage,
      EXIT.failed,
      EXIT.cancelled,
      EXIT.rejected,
      EXIT.superseded,
    ];
    assert.equal(new Set(codes).size, codes.length, 'no two meanings share a code');
  });

  it('treat only ended deployments as outcomes: a watch goes on through queued, awaiting_approval and running', () => {
    for (const status of ['queued', 'awaiting_approval', 'running'] as const)
      assert.equal(isOutcome(status), false);
    assert.equal(isOutcome('succeeded'), true);
  });
});

describe('kiln watch rendering', () => {
  it('formats durations for people', () => {
    assert.deepEqual([400, 12_000, 123_000, 3_900_000].map(formatDuration), [
      '0.4s',
      '12.0s',
      '2m 03s',
      '1h 05m',
    ]);
  });

  it('writes plain lines off a terminal: the deployment, each status once, each step with its duration, the outcome', () => {
    const out = new Capture(false);
    const view = watchViewFor(out);
    assert.ok(view instanceof PlainView);
    const running = deployment('running', [['AcquireLease', 0, 100]]);
    view.begin(running);
    view.progress(running);
    view.step({ name: 'AcquireLease', startedAt: at(0), endedAt: at(100) });
    view.progress(running);
    view.step({ name: 'ProvisionStack', startedAt: at(100), endedAt: at(1600), detail: '1 instance(s)' });
    view.end(deployment('rolled_back'));
    assert.equal(out.text, stripVTControlCharacters(out.text), 'no escape codes');
    assert.deepEqual(
      out.text.split('\n').map((line) => line.replace(/\s+/g, ' ').trim()),
      [
        'deployment d-1 of shop (deploy 2.0.0)',
        'status: running',
        'AcquireLease 0.1s',
        'ProvisionStack 1.5s 1 instance(s)',
        'rolled_back in 5.2s: StackNotHealthyError: not healthy within 5s',
        '',
      ],
    );
  });

  it('animates a spinner on a terminal, with the time the current step has taken so far, and keeps ended steps as lines', async () => {
    const out = new Capture(true);
    let now = T0 + 3000;
    const view = watchViewFor(out, () => now);
    assert.ok(!(view instanceof PlainView));
    const running = deployment('running', [['AcquireLease', 0, 1000]]);
    view.begin(running);
    view.progress(running);
    view.step({ name: 'AcquireLease', startedAt: at(0), endedAt: at(1000) });
    await new Promise((resolve) => setTimeout(resolve, 250));
    now += 1500;
    await new Promise((resolve) => setTimeout(resolve, 250));
    view.end(deployment('succeeded'));
    const screen = stripVTControlCharacters(out.text);
    assert.ok(out.text.includes('\u001b[K'), 'the spinner line is redrawn in place');
    assert.match(screen, /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] running: next step 2\.0s/, 'elapsed since the last step ended');
    assert.match(screen, /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] running: next step 3\.5s/, 'counting while it waits');
    assert.match(screen, /• AcquireLease\s+1\.0s/);
    assert.match(screen, /✔ succeeded in 5\.2s\n$/);
  });

  it('shows each step once however often it is polled, and answers the deployment as it ended', async () => {
    const answers = [
      deployment('queued'),
      deployment('running', [['AcquireLease', 0, 100]]),
      deployment('running', [['AcquireLease', 0, 100]]),
      deployment('succeeded', [
        ['AcquireLease', 0, 100],
        ['ProvisionStack', 100, 900],
      ]),
    ];
    const asked: string[] = [];
    const client: KilnClient = {
      baseUrl: 'http://kiln',
      send: async <T>(method: string, path: string) => {
        asked.push(`${method} ${path}`);
        return answers.shift() as T;
      },
    };
    const out = new Capture(false);
    const ended = await watchDeployment(client, 'shop', 'd-1', new PlainView(out), 1);
    assert.equal(ended.status, 'succeeded');
    assert.deepEqual(new Set(asked), new Set(['GET /environments/shop/deployments/d-1']));
    assert.equal(asked.length, 4);
    assert.equal(out.text.match(/AcquireLease/g)?.length, 1);
    assert.match(
      out.text,
      /status: queued\nstatus: running\n.*AcquireLease.*\n.*ProvisionStack.*\nsucceeded in/,
    );
  });
});

describe('kiln configuration', () => {
  it('defaults to the embedded Kiln and its dev token', () => {
    assert.deepEqual(readCliConfig({}), { url: DEFAULT_URL, auth: 'token', token: DEV_TOKEN });
    assert.equal(DEFAULT_URL, 'http://127.0.0.1:3000');
  });

  it('signs with SigV4 for an API Gateway URL, in the region its host names', () => {
    const url = 'https://abc123.execute-api.eu-west-1.amazonaws.com/prod/';
    assert.deepEqual(readCliConfig({ KILN_URL: url, AWS_REGION: 'us-east-1' }), {
      url,
      auth: 'sigv4',
      region: 'eu-west-1',
    });
  });

  it('signs for another host when told to, in AWS_REGION, and says what is missing otherwise', () => {
    const url = 'https://kiln.example.com';
    assert.deepEqual(readCliConfig({ KILN_URL: url, KILN_AUTH: 'sigv4', AWS_REGION: 'eu-central-1' }), {
      url,
      auth: 'sigv4',
      region: 'eu-central-1',
    });
    assert.throws(() => readCliConfig({ KILN_URL: url }, { auth: 'sigv4' }), /set AWS_REGION/);
    assert.throws(() => readCliConfig({ KILN_AUTH: 'basic' }), UsageError);
    assert.throws(() => readCliConfig({ KILN_URL: 'ftp://kiln' }), UsageError);
  });
});

describe('kiln environment files', () => {
  it('reads YAML and JSON alike: the name apart, the rest the PUT body', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-cli-'));
    const yaml = join(dir, 'shop.yaml');
    await writeFile(yaml, 'name: shop\nteam: platform\nspec:\n  version: "1.0"\n');
    const json = join(dir, 'shop.json');
    await writeFile(json, JSON.stringify({ name: 'shop', team: 'platform', spec: { version: '1.0' } }));
    const expected = { name: 'shop', body: { team: 'platform', spec: { version: '1.0' } } };
    assert.deepEqual(await readResourceFile(yaml, Readable.from([])), expected);
    assert.deepEqual(await readResourceFile(json, Readable.from([])), expected);
    assert.deepEqual(await readResourceFile('-', Readable.from(['name: shop\nteam: platform\n'])), {
      name: 'shop',
      body: { team: 'platform' },
    });
  });

  it('refuses what is not one named environment, as a usage error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kiln-cli-'));
    const cases = { 'no-name.yaml': 'team: platform\n', 'list.yaml': '- a\n', 'bad.yaml': 'a: [\n' };
    for (const [file, text] of Object.entries(cases)) {
      await writeFile(join(dir, file), text);
      await assert.rejects(readResourceFile(join(dir, file), Readable.from([])), UsageError, file);
    }
    await assert.rejects(readResourceFile(join(dir, 'missing.yaml'), Readable.from([])), /cannot read/);
  });

  it('reads a freeze file by its id', async () => {
    const freeze = Readable.from(['id: weekends\nteam: platform\ncron: cron(0 17 ? * FRI *)\n']);
    assert.deepEqual(await readResourceFile('-', freeze, FREEZE_FILE), {
      name: 'weekends',
      body: { team: 'platform', cron: 'cron(0 17 ? * FRI *)' },
    });
    await assert.rejects(
      readResourceFile('-', Readable.from(['name: weekends\n']), FREEZE_FILE),
      /names no freeze: add a top-level "id: <freeze>"/,
    );
  });
});
