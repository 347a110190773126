import { UnauthorizedError, ValidationError } from '../../core/errors.ts';
import { verifyGitHubSignature } from '../../shared/github-signature.ts';
import { json, openRouteHandler, rawBody, UnsupportedMediaTypeError } from '../../shared/http.ts';
import { normalizeGitHubPush } from '../../shared/push-events.ts';
import { ingestPorts } from '../../shared/roots/ingest.ts';

/** GitHub's delivery ids are GUIDs; anything else is not GitHub. */
const DELIVERY_ID = /^[0-9a-fA-F-]{8,64}$/;

/**
 * POST /hooks/github: a GitHub webhook delivery. Open to the internet (GitHub cannot sign with SigV4):
 * the X-Hub-Signature-256 HMAC of the body under the webhook secret is the caller's proof, checked
 * first and in constant time; without it, 401 and nothing else happens. `ping` answers 200; events
 * other than `push` 202, ignored, saying so; a push is normalised, queued and answered 202 at once:
 * the queue's consumer deploys, never this request.
 */
export const handler = openRouteHandler(ingestPorts, async ({ event, ports }) => {
  const body = rawBody(event);
  const signed = await verifyGitHubSignature(
    await ports.secrets.githubWebhookSecret(),
    body,
    event.headers?.['x-hub-signature-256'],
  );
  if (!signed) {
    throw new UnauthorizedError(
      'X-Hub-Signature-256 is missing or does not match the body: check the webhook secret GitHub signs with',
    );
  }
  const kind = event.headers?.['x-github-event'];
  const deliveryId = event.headers?.['x-github-delivery'] ?? '';
  if (!DELIVERY_ID.test(deliveryId))
    throw new ValidationError('X-GitHub-Delivery must be the delivery id GitHub sends');
  if (kind === 'ping') return json(200, { deliveryId, pong: true });
  if (kind !== 'push')
    return json(202, {
      deliveryId,
      ignored: `Kiln acts on push events only, not ${kind ?? 'an unnamed event'}`,
    });
  if (!/^application\/json\b/i.test(event.headers?.['content-type'] ?? '')) {
    throw new UnsupportedMediaTypeError('set the webhook’s content type to application/json');
  }
  let payload: unknown;
  try {
    payload = JSON.parse(body);
  } catch {
    // Not JSON.parse's message: it quotes the body back.
    throw new ValidationError('the push payload is not valid JSON');
  }
  const push = normalizeGitHubPush(payload, deliveryId, ports.clock.now().toISOString());
  if ('ignored' in push) return json(202, { deliveryId, ignored: push.ignored });
  await ports.pushQueue.enqueue(push);
  return json(202, {
    deliveryId,
    accepted: { repository: push.repository, branch: push.branch, change: push.change, commit: push.commit },
  });
});
