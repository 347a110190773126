import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import {
  awaitDeployment,
  call,
  environmentBody,
  fetchText,
  removeDataDir,
  startKilnProcess,
} from '../support/kiln-process.ts';

/** What `npm start` tells a user, and what it never tells anyone. */
describe('starting Kiln', { timeout: 120_000 }, () => {
  it('says in one line why it cannot start, and exits 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as { port: number };
    try {
      await assert.rejects(
        startKilnProcess(undefined, { KILN_API_PORT: String(port) }),
        new RegExp(`exited with 1 before listening:\\nKiln could not start: port ${port} is in use`),
      );
    } finally {
      blocker.close();
    }
    await assert.rejects(
      startKilnProcess(undefined, { KILN_TOKENS: 'no-team' }),
      /Kiln could not start: KILN_TOKENS entry/,
    );
    await assert.rejects(
      startKilnProcess(undefined, { KILN_PROVIDER: 'gcp' }),
      /KILN_PROVIDER must be local or aws/,
    );
  });

  it('never logs a secret given in spec.env, even at DEBUG', async () => {
    const secret = 'kiln-e2e-secret-9f3c1a';
    const kiln = await startKilnProcess(undefined, { POWERTOOLS_LOG_LEVEL: 'DEBUG' });
    try {
      const created = await call(kiln, 'PUT', '/environments/secret-dev', {
        body: environmentBody('1.0.0', { capacity: 1, env: { API_TOKEN: secret } }),
      });
      assert.equal(
        (await awaitDeployment(kiln, 'secret-dev', created.body.deploymentId)).status,
        'succeeded',
      );
      const broken = await call(kiln, 'PUT', '/environments/secret-dev', {
        body: environmentBody('2.0.0', {
          capacity: 1,
          env: { API_TOKEN: secret, SAMPLE_HEALTH: 'fail' },
          deadlineSeconds: 5,
        }),
      });
      assert.equal(
        (await awaitDeployment(kiln, 'secret-dev', broken.body.deploymentId)).status,
        'rolled_back',
      );
      const env = await call(kiln, 'GET', '/environments/secret-dev');
      assert.equal(await fetchText(env.body.endpoint), 'sample-app 1.0.0\n');
      assert.match(kiln.output(), /"level":"DEBUG"|"level":"INFO"/, 'the handlers did log');
      assert.ok(!kiln.output().includes(secret), 'the secret appears nowhere in what Kiln printed');
    } finally {
      await kiln.stop();
      await removeDataDir(kiln.dataDir);
    }
  });
});
