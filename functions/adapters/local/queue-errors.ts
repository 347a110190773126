/**
 * The errors of the embedded SQS queue. Each one carries the error code SQS answers with in the same
 * situation, so code that handles SQS errors by code behaves the same embedded.
 */

export class LocalQueueError extends Error {
  /** The SQS error code of the same failure. */
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A parameter SQS would refuse: a message too large, a FIFO send without a group, a receive of 11. */
export class InvalidParameterValueError extends LocalQueueError {
  constructor(message: string) {
    super('InvalidParameterValue', message);
  }
}

/** A message body with characters SQS does not accept (outside XML 1.0's set, lone surrogates). */
export class InvalidMessageContentsError extends LocalQueueError {
  constructor(message: string) {
    super('InvalidMessageContents', message);
  }
}

/** A FIFO send with neither a deduplication id nor content-based deduplication on the queue. */
export class MissingDeduplicationIdError extends LocalQueueError {
  constructor(queueName: string) {
    super(
      'InvalidParameterValue',
      `The queue ${queueName} should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly`,
    );
  }
}

/**
 * A receipt handle that is not one this queue issued, or (for changeVisibility) one that no longer
 * names the message's current receive: the message was deleted, redriven or received again since.
 */
export class ReceiptHandleIsInvalidError extends LocalQueueError {
  constructor(message: string) {
    super('ReceiptHandleIsInvalid', message);
  }
}

/** changeVisibility on a message whose visibility timeout already ran out: nobody holds it any more. */
export class MessageNotInflightError extends LocalQueueError {
  constructor(messageId: string) {
    super('AWS.SimpleQueueService.MessageNotInflight', `Message ${messageId} is not in flight`);
  }
}

/**
 * Another process (or another LocalQueue of this process) has the queue's folder open. Two owners of
 * one folder would each trust their own copy of the queue and hand out the same message twice.
 */
export class QueueLockedError extends LocalQueueError {
  constructor(queueName: string, folder: string) {
    super(
      'QueueLocked',
      `Queue ${queueName} is already open (its folder ${folder} is locked by another owner)`,
    );
  }
}

/** An operation on a queue after its close(). */
export class QueueClosedError extends LocalQueueError {
  constructor(queueName: string) {
    super('QueueClosed', `Queue ${queueName} is closed`);
  }
}
