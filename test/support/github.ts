import { randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';
import { DEFAULT_GITHUB_WEBHOOK_SECRET } from '../../infra/local/config.ts';

/** What GitHub's webhook sends, as a test sends it to `POST /hooks/github`. */
export interface Delivery {
  /** X-GitHub-Event; default `push`. */
  event?: string;
  /** X-GitHub-Delivery; default a fresh GUID. */
  deliveryId?: string;
  /** The secret the body is signed with; default the one `npm start` checks (its documented dev default). */
  secret?: string;
  /** X-Hub-Signature-256 exactly; `null` sends none. Default: the signature of the body under `secret`. */
  signature?: string | null;
  /** The body exactly; default the payload as JSON. */
  rawBody?: string;
  contentType?: string;
}

export interface DeliveryResponse {
  status: number;
  contentType: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: test responses are inspected field by field
  body: any;
  deliveryId: string;
}

/** Delivers `payload` as GitHub does: JSON body, its HMAC in X-Hub-Signature-256, no bearer token. */
export async function deliver(
  kiln: { apiUrl: string },
  payload: unknown,
  delivery: Delivery = {},
): Promise<DeliveryResponse> {
  const body = delivery.rawBody ?? JSON.stringify(payload);
  const deliveryId = delivery.deliveryId ?? randomUUID();
  const headers: Record<string, string> = {
    'content-type': delivery.contentType ?? 'application/json',
    'user-agent': 'GitHub-Hookshot/kiln-test',
    'x-github-event': delivery.event ?? 'push',
    'x-github-delivery': deliveryId,
  };
  const signature =
    delivery.signature === undefined
      ? await sign(delivery.secret ?? DEFAULT_GITHUB_WEBHOOK_SECRET, body)
      : delivery.signature;
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  const response = await fetch(`${kiln.apiUrl}/hooks/github`, { method: 'POST', headers, body });
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: text ? JSON.parse(text) : undefined,
    deliveryId,
  };
}
