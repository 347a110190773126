import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { branchKey, ingestPush, newestPerBranch } from '../../core/ingestion.ts';
import type { Push } from '../../core/pushes.ts';
import { logger } from '../../shared/logger.ts';
import { parsePushMessage } from '../../shared/push-events.ts';
import { requestPorts } from '../../shared/roots/request.ts';

/**
 * The push queue's consumer (SQS FIFO, one message group per branch): ingests each push of the batch
 * (see core/ingestion.ts) and reports the records that failed, so that one bad message never fails or
 * redelivers the others. A failure stops only its own branch's group for this batch: the later pushes
 * of that branch wait (their order matters), other branches go on. Of the pushes to one branch in the
 * batch, the newest deploys and the others are recorded superseded.
 */
export const handler = middy(async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
  const ports = requestPorts();
  const pushes = new Map<string, Push>();
  for (const record of event.Records) {
    const parsed = tryParse(record);
    if (parsed) pushes.set(record.messageId, parsed);
  }
  const newest = newestPerBranch([...pushes.values()]);
  return processPartialResponse(
    event,
    async (record: SQSRecord) => {
      const parsed = parsePushMessage(record.body);
      if ('ignored' in parsed) {
        logger.info('push message ignored', { messageId: record.messageId, reason: parsed.ignored });
        return;
      }
      const latest = newest.get(branchKey(parsed));
      const supersededBy = latest && latest.deliveryId !== parsed.deliveryId ? latest : undefined;
      const ingested = await ingestPush(ports, parsed, {
        messageId: record.messageId,
        ...(supersededBy ? { supersededBy } : {}),
      });
      logger.info('push ingested', {
        deliveryId: parsed.deliveryId,
        outcomes: ingested.records.map(({ environment, outcome }) => `${environment}: ${outcome}`),
        ...(ingested.ignored ? { ignored: ingested.ignored } : {}),
      });
    },
    new SqsFifoPartialProcessorAsync(),
    { context, skipGroupOnError: true },
  );
}).use(injectLambdaContext(logger, { resetKeys: true }));

/** The push a record carries, for finding the newest per branch; a bad record fails on its own later. */
function tryParse(record: SQSRecord): Push | undefined {
  try {
    const parsed = parsePushMessage(record.body);
    return 'ignored' in parsed ? undefined : parsed;
  } catch {
    return undefined;
  }
}
