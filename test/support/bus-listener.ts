import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An event as the embedded bus POSTs it to a KILN_EVENT_WEBHOOKS URL: EventBridge's envelope. */
export interface ReceivedEvent {
  version: string;
  id: string;
  source: string;
  account: string;
  region: string;
  time: string;
  resources: unknown[];
  'detail-type': string;
  // biome-ignore lint/suspicious/noExplicitAny: the detail is checked field by field
  detail: any;
}

export interface BusListener {
  /** The URL to name in KILN_EVENT_WEBHOOKS. */
  url: string;
  /** Every event received, in arrival order. */
  received: ReceivedEvent[];
  close(): Promise<void>;
}

/** A subscriber of Kiln's embedded bus: an HTTP listener on loopback that keeps what it is sent. */
export async function startBusListener(): Promise<BusListener> {
  const received: ReceivedEvent[] = [];
  const listener = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      received.push(JSON.parse(body) as ReceivedEvent);
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(listener.address() as AddressInfo).port}/kiln-events`,
    received,
    close: () => new Promise<void>((resolve) => listener.close(() => resolve())),
  };
}
