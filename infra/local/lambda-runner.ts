/**
 * One invocation of an embedded Lambda function, in a process of its own (see lambda-endpoint.ts):
 * `node lambda-runner.ts <module.ts>`, the event as JSON on stdin, an IPC channel to the endpoint. It
 * imports the module, awaits `handler(event)` and sends `{ result }`, or `{ error }` in the shape Lambda
 * reports a function error in (`errorType`, `errorMessage`, `trace`), then exits. What the function
 * prints goes to the endpoint's log of it.
 */
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';

type Outcome = { result: unknown } | { error: { errorType: string; errorMessage: string; trace: string[] } };

function send(outcome: Outcome): void {
  // Exits once sent, whatever the function left running (timers, sockets), as a Lambda invocation ends.
  process.send?.(outcome, () => process.exit(0));
}

const [modulePath = ''] = process.argv.slice(2);
try {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const event: unknown = text === '' ? {} : JSON.parse(text);
  const module = (await import(pathToFileURL(modulePath).href)) as { handler?: unknown };
  if (typeof module.handler !== 'function') {
    throw Object.assign(new Error(`${basename(modulePath)} does not export a handler function`), {
      name: 'Runtime.HandlerNotFound',
    });
  }
  const result: unknown = await module.handler(event);
  send({ result: result ?? null });
} catch (caught) {
  const error = caught instanceof Error ? caught : new Error(String(caught));
  send({
    error: {
      errorType: error.name,
      errorMessage: error.message,
      trace: (error.stack ?? '').split('\n'),
    },
  });
}
