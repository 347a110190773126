import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { EXIT } from '../../cli/exit-codes.ts';
import {
  APPROVER_TOKEN,
  awaitApprovalRequest,
  awaitDeployment,
  BLUE_GREEN_STEPS,
  call,
  FREEZE_MANAGER_TOKEN,
  type KilnProcess,
  quickEnvironmentBody,
  removeDataDir,
  requestRiskyChange,
  startKilnProcess,
  TOKEN,
} from '../support/kiln-process.ts';

const REPO = resolve(import.meta.dirname, '../..');
const KILN_CLI = resolve(REPO, 'cli/kiln.mjs');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The `kiln` CLI against `npm start`'s Kiln (a child process), as a person or a script runs it: its own
 * process, KILN_URL and KILN_TOKEN in the environment, output piped (so plain lines, no spinner).
 */
describe('the kiln CLI against the embedded Kiln', { timeout: 300_000 }, () => {
  let kiln: KilnProcess;
  let files: string;

  /** `kiln <args>` (or `npx kiln <args>`): its exit code and what it printed. */
  function run(args: string[], options: { token?: string; npx?: boolean } = {}): Promise<Run> {
    const [command, argv] = options.npx
      ? ['npx', ['kiln', ...args]]
      : [process.execPath, [KILN_CLI, ...args]];
    return new Promise((done) => {
      execFile(
        command,
        argv,
        {
          cwd: REPO,
          env: { ...process.env, KILN_URL: kiln.apiUrl, KILN_TOKEN: options.token ?? TOKEN },
          timeout: 120_000,
        },
        (error, stdout, stderr) => done({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
  }

  /** An environment file for `kiln env apply -f`, written as YAML. */
  async function environmentFile(name: string, body: object): Promise<string> {
    const path = join(files, `${name}.yaml`);
    await writeFile(path, stringify({ name, ...body }));
    return path;
  }

  before(async () => {
    kiln = await startKilnProcess();
    files = await mkdtemp(join(tmpdir(), 'kiln-cli-e2e-'));
  });

  after(async () => {
    await kiln?.stop();
    await removeDataDir(kiln.dataDir);
    await removeDataDir(files);
  });

  it('applies an environment from a YAML file, then deploy --watch shows each step and exits 0', async () => {
    const applied = await run([
      'env',
      'apply',
      '-f',
      await environmentFile('cli-dev', quickEnvironmentBody('1.0.0')),
    ]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /^cli-dev applied \(version \d+\): deployment (\S+) started$/m);
    const first = /deployment (\S+) started/.exec(applied.stdout)?.[1] ?? '';
    assert.equal((await awaitDeployment(kiln, 'cli-dev', first)).status, 'succeeded');

    const deployed = await run([
      'deploy',
      'cli-dev',
      '--version',
      '2.0.0',
      '--reason',
      'from the CLI',
      '--watch',
    ]);
    assert.equal(deployed.code, EXIT.ok, deployed.stdout + deployed.stderr);
    const id = /^deployment (\S+) of cli-dev \(deploy 2\.0\.0\)$/m.exec(deployed.stdout)?.[1] ?? '';
    const record = (await call(kiln, 'GET', `/environments/cli-dev/deployments/${id}`)).body;
    assert.equal(record.status, 'succeeded');
    const lines = deployed.stdout.split('\n');
    // Every step the deployment recorded, in its order, each on a line of its own with its duration.
    const shown = record.steps.map((step: { name: string }) =>
      lines.findIndex((line) => new RegExp(`^  ${step.name}\\s+\\d+\\.\\ds\\b`).test(line)),
    );
    assert.ok(
      shown.every((index: number, i: number) => index > 0 && (i === 0 || index > shown[i - 1])),
      deployed.stdout,
    );
    for (const step of BLUE_GREEN_STEPS) {
      assert.match(deployed.stdout, new RegExp(`^  ${step} `, 'm'));
    }
    assert.match(lines.at(-2) ?? '', /^succeeded in \d+\.\ds$/);
    assert.ok(!deployed.stdout.includes('\u001b'), 'no escape codes in a pipe');
  });

  it('answers one JSON document with --output json, before or after the command', async () => {
    const status = await run(['status', 'cli-dev', '--output', 'json']);
    assert.equal(status.code, 0, status.stderr);
    const { environment, stacks } = JSON.parse(status.stdout);
    assert.equal(environment.liveStack.version, '2.0.0');
    assert.equal(stacks.find((s: { status: string }) => s.status === 'live').weight, 100);

    const listed = await run(['-o', 'json', 'env', 'ls']);
    assert.ok(JSON.parse(listed.stdout).environments.some((e: { name: string }) => e.name === 'cli-dev'));

    const history = JSON.parse((await run(['history', 'cli-dev', '--limit', '1', '-o', 'json'])).stdout);
    assert.equal(history.deployments.length, 1);
    assert.equal(history.deployments[0].version, '2.0.0');
    assert.equal(history.deployments[0].reason, 'from the CLI');

    const watched = await run(['deploy', 'cli-dev', '--version', '3.0.0', '--watch', '-o', 'json']);
    assert.equal(watched.code, EXIT.ok);
    const ended = JSON.parse(watched.stdout);
    assert.equal(ended.status, 'succeeded');
    assert.ok(ended.steps.length > 0);

    const logs = JSON.parse((await run(['logs', 'cli-dev', '--tail', '2', '-o', 'json'])).stdout);
    assert.equal(logs.events.length, 2);
    assert.equal(logs.events.at(-1).action, 'deploy.succeeded');
  });

  it('exits with the failure code when a watched deployment rolls back, saying why', async () => {
    const broken = quickEnvironmentBody('4.0.0-broken');
    broken.spec.env = { SAMPLE_HEALTH: 'fail' };
    broken.spec.healthCheck.deadlineSeconds = 5;
    const applied = await run(['env', 'apply', '-f', await environmentFile('cli-dev', broken), '--watch']);
    assert.equal(applied.code, EXIT.failed, applied.stdout + applied.stderr);
    assert.match(applied.stdout, /^ {2}RestoreTraffic /m);
    assert.match(applied.stdout, /^rolled_back in \d+\.\ds: StackNotHealthyError: .*not healthy within 5s/m);
    const status = JSON.parse((await run(['status', 'cli-dev', '-o', 'json'])).stdout);
    assert.equal(status.environment.liveStack.version, '3.0.0', 'the previous version still serves');
  });

  it('exits with the rejection code for a deployment an approver rejected, and watch follows the latest one', async () => {
    const id = await requestRiskyChange(kiln, 'cli-dev', '5.0.0');
    const rejected = await run(['reject', 'cli-dev', id, '--comment', 'not today'], {
      token: APPROVER_TOKEN,
    });
    assert.equal(rejected.code, 0, rejected.stderr);
    assert.match(
      rejected.stdout,
      new RegExp(`^${id}: rejected \\(now \\w+; kiln watch cli-dev ${id} follows it\\)$`, 'm'),
    );
    const watched = await run(['watch', 'cli-dev']);
    assert.equal(watched.code, EXIT.rejected, watched.stdout);
    assert.match(watched.stdout, new RegExp(`^deployment ${id} of cli-dev`, 'm'));
    assert.match(watched.stdout, /^rejected\b/m);
  });

  it('applies a freeze from a file as a freeze-manager; a deploy under it is refused, --break-glass passes it', async () => {
    const path = join(files, 'release.yaml');
    const end = new Date(Date.now() + 3_600_000).toISOString();
    await writeFile(
      path,
      stringify({
        id: 'cli-release',
        team: 'platform',
        selector: { environments: ['cli-dev'] },
        start: new Date().toISOString(),
        end,
        reason: 'release week',
      }),
    );
    const member = await run(['freeze', 'apply', '-f', path]);
    assert.equal(member.code, EXIT.apiError);
    assert.match(member.stderr, /^kiln: Forbidden: .*needs the freeze-manager role/);
    const applied = await run(['freeze', 'apply', '-f', path], { token: FREEZE_MANAGER_TOKEN });
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal(applied.stdout, `cli-release applied: active until ${end} (refuse)\n`);
    const listed = JSON.parse((await run(['freeze', 'ls', '-o', 'json'])).stdout);
    assert.deepEqual(
      listed.freezes.map((f: { id: string }) => f.id),
      ['cli-release'],
    );

    const refused = await run(['deploy', 'cli-dev', '--version', '6.0.0']);
    assert.equal(refused.code, EXIT.apiError);
    assert.match(refused.stderr, /^kiln: Conflict: environment cli-dev is frozen by cli-release until /);
    const broken = await run([
      'deploy',
      'cli-dev',
      '--version',
      '6.0.0',
      '--break-glass',
      'INC-7: payments down',
      '-o',
      'json',
    ]);
    assert.equal(broken.code, 0, broken.stderr);
    const id = JSON.parse(broken.stdout).deploymentId;
    // Break-glass is scored high: it waits for a second person (rejected here, so nothing runs).
    const deployment = await awaitApprovalRequest(kiln, 'cli-dev', id);
    assert.equal(deployment.breakGlass.reason, 'INC-7: payments down');
    assert.equal(
      (await run(['reject', 'cli-dev', id, '--comment', 'roll back instead'], { token: APPROVER_TOKEN }))
        .code,
      0,
    );
    assert.equal((await run(['freeze', 'delete', 'cli-release'], { token: FREEZE_MANAGER_TOKEN })).code, 0);
  });

  it("prints an error's title and detail, never a stack trace, and exits 1", async () => {
    const missing = await run(['status', 'no-such-env']);
    assert.equal(missing.code, EXIT.apiError);
    assert.equal(missing.stderr, 'kiln: Not Found: environment no-such-env does not exist\n');
    assert.equal(missing.stdout, '');

    const invalid = await run(['deploy', 'cli-dev', '--version', 'not a version!', '-o', 'json']);
    assert.equal(invalid.code, EXIT.apiError);
    assert.match(invalid.stderr, /^kiln: Bad Request: the body is invalid: version: /);
    assert.doesNotMatch(invalid.stderr, /\n\s+at /, 'no stack trace');
    const problem = JSON.parse(invalid.stdout);
    assert.deepEqual([problem.status, problem.title], [400, 'Bad Request']);

    const refused = await run(['env', 'ls'], { token: 'not-a-token' });
    assert.equal(refused.code, EXIT.apiError);
    assert.match(refused.stderr, /^kiln: Unauthorized: /);
  });

  it('exits with the usage code for a wrong command line, sending nothing', async () => {
    for (const args of [
      ['deploy'],
      ['history', 'cli-dev', '--limit', '0'],
      ['env', 'ls', '-o', 'xml'],
      ['launch'],
    ]) {
      const wrong = await run(args);
      assert.equal(wrong.code, EXIT.usage, `${args.join(' ')}: ${wrong.stderr}`);
      assert.match(wrong.stderr, /error: /);
      assert.doesNotMatch(wrong.stderr, /\n\s+at /);
    }
    const noFile = await run(['env', 'apply', '-f', join(files, 'missing.yaml')]);
    assert.equal(noFile.code, EXIT.usage);
    assert.match(noFile.stderr, /^kiln: cannot read .*missing\.yaml/);
  });

  it('runs install-free as `npx kiln` from the repository', async () => {
    const listed = await run(['env', 'ls'], { npx: true });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^NAME\s+TIER\s+STATUS\s+LIVE\s+DESIRED\s+ENDPOINT$/m);
    assert.match(listed.stdout, /^cli-dev\s+dev\s+live\s+3\.0\.0\s/m);
  });
});
