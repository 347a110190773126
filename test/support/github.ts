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

/** A delivery ready to send: its id and the request GitHub would make, signed. */
export interface SignedDelivery {
  deliveryId: string;
  request: RequestInit & { method: 'POST'; headers: Record<string, string>; body: string };
}

/**
 * The request GitHub's webhook makes for `payload`: JSON body, its HMAC in X-Hub-Signature-256, no bearer
 * token. Signing is apart from sending so that a load test can sign ahead and time only the request.
 */
export async function signedDelivery(payload: unknown, delivery: Delivery = {}): Promise<SignedDelivery> {
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
  return { deliveryId, request: { method: 'POST', headers, body } };
}

/** Delivers `payload` as GitHub does (see `signedDelivery`) and reads the answer. */
export async function deliver(
  kiln: { apiUrl: string },
  payload: unknown,
  delivery: Delivery = {},
): Promise<DeliveryResponse> {
  const { deliveryId, request } = await signedDelivery(payload, delivery);
  const response = await fetch(`${kiln.apiUrl}/hooks/github`, request);
  const text = await response.text();
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    body: text ? JSON.parse(text) : undefined,
    deliveryId,
  };
}
