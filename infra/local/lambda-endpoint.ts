import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, open, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface LambdaEndpointOptions {
  /** Where the functions are: `<name>.ts` exporting `handler(event)` (KILN_HOOKS_DIR). */
  functionsDir: string;
  host: string;
  /** 0 (or absent): a free port. */
  port?: number;
  /** Each function's output is appended to `<logDir>/lambda-<name>.log`; dropped without it. */
  logDir?: string;
  /** A function running longer is stopped and answered as Lambda answers a timeout; Lambda's limit unless told. */
  timeoutSeconds?: number;
}

/** The embedded Lambda: what AWS_ENDPOINT_URL_LAMBDA points at. */
export interface LambdaEndpoint {
  url: string;
  /** Stops listening and every invocation still running. */
  close(): Promise<void>;
}

/** Lambda's own limit on a function's timeout. */
const MAX_TIMEOUT_SECONDS = 900;
/** Lambda's limit on a synchronous invocation's payload. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;
const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
/** What Invoke takes as FunctionName and the endpoint can run: a name, or a function ARN (any qualifier). */
const FUNCTION_NAME =
  /^(?:arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:)?([A-Za-z0-9_-]{1,64})(?::[$A-Za-z0-9_-]+)?$/;
const RUNNER = join(import.meta.dirname, 'lambda-runner.ts');

/**
 * Lambda's Invoke API (`POST /2015-03-31/functions/{name}/invocations`, synchronous invocations) on the
 * embedded runtime's host, over functions that are files of a folder, so that Kiln's one Lambda adapter
 * invokes hooks on a laptop as on AWS. Answers as Lambda does: 200 with the function's result; 200 with
 * `X-Amz-Function-Error: Unhandled` and `{ errorType, errorMessage, trace }` when it throws, exits or
 * times out; 404 ResourceNotFoundException for a function the folder lacks.
 *
 * Each invocation runs in a child process of its own (lambda-runner.ts), killed when its caller gives up
 * (Kiln's hook timeout closes the connection) or after `timeoutSeconds`: a function that hangs, loops or
 * exits cannot hang or crash Kiln, and gets none of Kiln's environment (tokens, credentials), only PATH,
 * TMPDIR and what Lambda sets. Only this machine may invoke (loopback), as only Kiln calls it.
 */
export async function startLambdaEndpoint(options: LambdaEndpointOptions): Promise<LambdaEndpoint> {
  const running = new Set<ChildProcess>();
  const server = createServer((req, res) => {
    invoke(options, running, req, res).catch((error: Error) =>
      answerError(res, 500, 'ServiceException', `the embedded Lambda failed: ${error.message}`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${options.host}:${port}`,
    close: async () => {
      for (const child of running) child.kill('SIGKILL');
      await closeServer(server);
    },
  };
}

async function invoke(
  options: LambdaEndpointOptions,
  running: Set<ChildProcess>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const encoded = INVOKE_PATH.exec(new URL(req.url ?? '/', 'http://lambda').pathname)?.[1];
  const target = encoded === undefined ? undefined : decodedOrUndefined(encoded);
  if (req.method !== 'POST' || target === undefined) {
    return answerError(res, 404, 'UnknownOperationException', 'the embedded Lambda serves Invoke only');
  }
  if (!isLoopback(req.socket.remoteAddress)) {
    return answerError(
      res,
      403,
      'AccessDeniedException',
      'the embedded Lambda is invoked from this machine only',
    );
  }
  const invocationType = req.headers['x-amz-invocation-type'] ?? 'RequestResponse';
  if (invocationType !== 'RequestResponse') {
    return answerError(
      res,
      400,
      'InvalidParameterValueException',
      'the embedded Lambda runs RequestResponse invocations only',
    );
  }
  const name = FUNCTION_NAME.exec(target)?.[1];
  const file = name === undefined ? undefined : join(options.functionsDir, `${name}.ts`);
  if (!file || !(await isFile(file))) {
    return answerError(
      res,
      404,
      'ResourceNotFoundException',
      `Function not found: ${target} (no such file in ${options.functionsDir})`,
    );
  }
  const event = await readBody(req);
  if (event === undefined) {
    return answerError(
      res,
      413,
      'RequestTooLargeException',
      `the payload exceeds ${MAX_PAYLOAD_BYTES} bytes`,
    );
  }
  const outcome = await run(options, running, name as string, file, event, res);
  if (outcome === 'gone') return;
  const requestId = randomUUID();
  if ('result' in outcome) {
    res.writeHead(200, {
      'content-type': 'application/json',
      'x-amz-executed-version': '$LATEST',
      'x-amzn-requestid': requestId,
    });
    res.end(JSON.stringify(outcome.result));
    return;
  }
  res.writeHead(200, {
    'content-type': 'application/json',
    'x-amz-executed-version': '$LATEST',
    'x-amz-function-error': 'Unhandled',
    'x-amzn-requestid': requestId,
  });
  res.end(JSON.stringify(outcome.error));
}

type Outcome = { result: unknown } | { error: { errorType: string; errorMessage: string; trace?: string[] } };

/**
 * Runs one invocation to its outcome; 'gone' when the caller hung up first (the process is then killed:
 * nobody waits for it any more).
 */
async function run(
  options: LambdaEndpointOptions,
  running: Set<ChildProcess>,
  name: string,
  file: string,
  event: Buffer,
  res: ServerResponse,
): Promise<Outcome | 'gone'> {
  const timeoutSeconds = options.timeoutSeconds ?? MAX_TIMEOUT_SECONDS;
  const log = await openLog(options.logDir, name);
  try {
    const output = log?.fd ?? 'ignore';
    const child: ChildProcess = spawn(process.execPath, [RUNNER, file], {
      stdio: ['pipe', output, output, 'ipc'],
      env: functionEnvironment(name, timeoutSeconds),
    });
    running.add(child);
    return await new Promise<Outcome | 'gone'>((resolve) => {
      let outcome: Outcome | undefined;
      const finish = (ending: Outcome | 'gone') => {
        clearTimeout(timer);
        res.off('close', onGone);
        running.delete(child);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        resolve(ending);
      };
      const onGone = () => finish('gone');
      const timer = setTimeout(
        () =>
          finish({
            error: {
              errorType: 'Sandbox.Timedout',
              errorMessage: `Task timed out after ${timeoutSeconds.toFixed(2)} seconds`,
            },
          }),
        timeoutSeconds * 1000,
      );
      res.once('close', onGone);
      child.once('message', (message: Outcome) => {
        outcome = message;
      });
      child.once('error', (error: Error) =>
        finish({ error: { errorType: 'Runtime.StartError', errorMessage: error.message } }),
      );
      child.once('exit', (code, signal) =>
        finish(
          outcome ?? {
            error: {
              errorType: 'Runtime.ExitError',
              errorMessage: `Runtime exited without answering: ${signal ?? `exit status ${code}`}`,
            },
          },
        ),
      );
      child.stdin?.on('error', () => undefined); // a function that exits before reading its event
      child.stdin?.end(event);
    });
  } finally {
    await log?.close();
  }
}

/** What a function gets of the environment: PATH, TMPDIR and what Lambda sets; nothing of Kiln's. */
function functionEnvironment(name: string, timeoutSeconds: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    AWS_LAMBDA_FUNCTION_NAME: name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_TIMEOUT: String(timeoutSeconds),
  };
  for (const variable of ['PATH', 'TMPDIR']) {
    const value = process.env[variable];
    if (value !== undefined) env[variable] = value;
  }
  return env;
}

async function openLog(logDir: string | undefined, name: string) {
  if (!logDir) return undefined;
  await mkdir(logDir, { recursive: true, mode: 0o700 });
  return open(join(logDir, `lambda-${name}.log`), 'a', 0o600);
}

function decodedOrUndefined(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

/** The body, or undefined past Lambda's payload limit. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_PAYLOAD_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** An error as Lambda's REST JSON protocol answers it: the SDK reads its name from `x-amzn-errortype`. */
function answerError(res: ServerResponse, status: number, type: string, message: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
  res.end(JSON.stringify({ Type: 'User', message }));
}

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
