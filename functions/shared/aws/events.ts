import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { EventBridgeEvents } from '../../adapters/aws/eventbridge-events.ts';
import type { EventPublisher } from '../../core/ports/events.ts';
import { readEventsConfig } from '../config.ts';
import { logger } from '../logger.ts';

/** Lifecycle events on the bus KILN_EVENT_BUS_NAME names; what cannot be published is logged as an error. */
export function buildAwsEvents(
  config = readEventsConfig(),
  client = new EventBridgeClient({}),
): EventPublisher {
  return new EventBridgeEvents({
    client,
    eventBusName: config.eventBusName,
    reportFailure: (message, detail) => logger.error(message, detail),
  });
}
