import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  InvokeCommand,
  type InvokeCommandInput,
  LambdaClient,
  LambdaServiceException,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { LambdaHooks } from '../../functions/adapters/aws/lambda-hooks.ts';
import type { HookPayload } from '../../functions/core/ports/hooks.ts';

const lambda = mockClient(LambdaClient);
const FUNCTION = 'arn:aws:lambda:eu-west-1:123456789012:function:checkout-smoke';
const PAYLOAD: HookPayload = {
  environment: 'checkout-dev',
  deploymentId: 'd-0mx5t67x0-35fa28e792',
  stackId: 'checkout-dev-v0002',
  hook: 'beforeTraffic',
  testUrl: 'http://checkout-dev.apps.example.com',
};

function hooks(): LambdaHooks {
  return new LambdaHooks({ client: new LambdaClient({ region: 'eu-west-1' }) });
}

/** What Lambda answers for an invocation: the function's result (or error) as the payload's bytes. */
function answer(body: unknown, functionError?: string) {
  return {
    StatusCode: 200,
    ExecutedVersion: '$LATEST',
    Payload: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)),
    ...(functionError ? { FunctionError: functionError } : {}),
  } as never;
}

beforeEach(() => lambda.reset());

describe('LambdaHooks.invoke', () => {
  it('invokes the function synchronously with the payload as its event and answers its verdict', async () => {
    lambda.on(InvokeCommand).resolves(answer({ status: 'Succeeded', reason: 'all 12 checks passed' }));

    const result = await hooks().invoke(FUNCTION, PAYLOAD, 60);

    assert.deepEqual(result, { status: 'Succeeded', reason: 'all 12 checks passed' });
    const [input] = lambda
      .commandCalls(InvokeCommand)
      .map((call) => call.args[0].input as InvokeCommandInput);
    assert.equal(input?.FunctionName, FUNCTION);
    assert.equal(input?.InvocationType, 'RequestResponse');
    assert.deepEqual(JSON.parse(new TextDecoder().decode(input?.Payload as Uint8Array)), PAYLOAD);
  });

  it("answers the function's Failed with its reason, and one of its own when it gives none", async () => {
    lambda
      .on(InvokeCommand)
      .resolvesOnce(answer({ status: 'Failed', reason: 'GET /checkout answered 500' }))
      .resolves(answer({ status: 'Failed' }));

    assert.deepEqual(await hooks().invoke('smoke', PAYLOAD, 60), {
      status: 'Failed',
      reason: 'GET /checkout answered 500',
    });
    assert.deepEqual(await hooks().invoke('smoke', PAYLOAD, 60), {
      status: 'Failed',
      reason: 'smoke answered Failed without a reason',
    });
  });

  it("turns a function error into Failed with the error's type and message", async () => {
    lambda.on(InvokeCommand).resolves(
      answer(
        {
          errorType: 'TypeError',
          errorMessage: "Cannot read properties of undefined (reading 'url')",
          trace: [],
        },
        'Unhandled',
      ),
    );

    assert.deepEqual(await hooks().invoke('smoke', PAYLOAD, 60), {
      status: 'Failed',
      reason: "smoke failed: TypeError: Cannot read properties of undefined (reading 'url')",
    });
  });

  it("turns Lambda's own timeout of the function into Failed with its message", async () => {
    lambda
      .on(InvokeCommand)
      .resolves(
        answer(
          { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 3.00 seconds' },
          'Unhandled',
        ),
      );

    assert.deepEqual(await hooks().invoke('smoke', PAYLOAD, 60), {
      status: 'Failed',
      reason: 'smoke failed: Sandbox.Timedout: Task timed out after 3.00 seconds',
    });
  });

  it('gives up after timeoutSeconds: Failed, "timed out", never waiting longer', async () => {
    lambda.on(InvokeCommand).callsFake(() => new Promise(() => undefined));
    const started = Date.now();

    const result = await hooks().invoke('smoke', PAYLOAD, 0.2);

    assert.deepEqual(result, { status: 'Failed', reason: 'smoke timed out after 0.2 s' });
    assert.ok(Date.now() - started < 2000);
  });

  for (const [what, body] of [
    ['not JSON', 'OK'],
    ['null', null],
    ['another status', { status: 'Passed' }],
    ['a reason that is not text', { status: 'Succeeded', reason: 42 }],
    ['an array', [{ status: 'Succeeded' }]],
  ] as const) {
    it(`turns an answer that is ${what} into Failed, quoting it`, async () => {
      lambda.on(InvokeCommand).resolves(answer(body));

      const result = await hooks().invoke('smoke', PAYLOAD, 60);

      assert.equal(result.status, 'Failed');
      assert.match(
        result.reason ?? '',
        /^smoke answered .*, not \{ "status": "Succeeded" \| "Failed", "reason"\?: string \}$/,
      );
    });
  }

  it('keeps fields a verdict carries besides status and reason out of the result', async () => {
    lambda.on(InvokeCommand).resolves(answer({ status: 'Succeeded', checks: 12 }));

    assert.deepEqual(await hooks().invoke('smoke', PAYLOAD, 60), { status: 'Succeeded' });
  });

  it('clips a very long reason to what a record holds', async () => {
    lambda.on(InvokeCommand).resolves(answer({ status: 'Failed', reason: 'x'.repeat(5000) }));

    const { reason } = await hooks().invoke('smoke', PAYLOAD, 60);

    assert.equal(reason?.length, 1000);
    assert.ok(reason?.endsWith('…'));
  });

  it("turns Lambda's errors about the function (unknown, not allowed) into Failed naming it", async () => {
    lambda
      .on(InvokeCommand)
      .rejectsOnce(
        new ResourceNotFoundException({
          $metadata: { httpStatusCode: 404 },
          message: `Function not found: ${FUNCTION}`,
        }),
      )
      .rejects(
        // Not a modelled error of the client: the SDK names it after Lambda's error code all the same.
        new LambdaServiceException({
          name: 'AccessDeniedException',
          $fault: 'client',
          $metadata: { httpStatusCode: 403 },
          message: 'not authorized to perform: lambda:InvokeFunction',
        }),
      );

    assert.deepEqual(await hooks().invoke(FUNCTION, PAYLOAD, 60), {
      status: 'Failed',
      reason: `${FUNCTION} could not be invoked: ResourceNotFoundException: Function not found: ${FUNCTION}`,
    });
    assert.deepEqual(await hooks().invoke('smoke', PAYLOAD, 60), {
      status: 'Failed',
      reason:
        'smoke could not be invoked: AccessDeniedException: not authorized to perform: lambda:InvokeFunction',
    });
  });

  it('throws when Lambda never answered (no endpoint, no credentials): that is Kiln’s to fix, or to retry', async () => {
    lambda
      .on(InvokeCommand)
      .rejects(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }));

    await assert.rejects(hooks().invoke('smoke', PAYLOAD, 60), /ECONNREFUSED/);
  });
});
