import { createHash, randomBytes } from 'node:crypto';
import type { SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import {
  InvalidMessageContentsError,
  InvalidParameterValueError,
  ReceiptHandleIsInvalidError,
} from './queue-errors.ts';

/**
 * What SQS checks on SendMessage and how it shapes a message, for the embedded queue: the limits
 * (so a message embedded Kiln accepts is one SQS accepts too), the MD5 digests SQS returns, receipt
 * handles, and the SQSRecord a Lambda event source mapping delivers.
 */

/** SQS's largest message, body plus attributes (1 MiB since January 2026; 256 KiB before). */
export const MAX_MESSAGE_BYTES = 1_048_576;
/** SQS allows at most 10 message attributes per message. */
const MAX_ATTRIBUTES = 10;
/** How long SQS remembers a FIFO message's deduplication id: 5 minutes from its first send. */
export const DEDUPLICATION_WINDOW_MS = 5 * 60 * 1000;
/** The longest a message may stay in flight, counted from its receive: 12 hours. */
export const MAX_VISIBILITY_SECONDS = 43_200;

/** One message as the queue keeps it, on disk (one file each) and in memory. */
export interface StoredMessage {
  messageId: string;
  /** Orders the queue (20 digits, so strings compare like numbers); a FIFO queue's SequenceNumber. */
  sequence: string;
  body: string;
  messageAttributes: Record<string, string>;
  /** Epoch ms: SentTimestamp. */
  sentAt: number;
  groupId?: string;
  deduplicationId?: string;
  /** How many times it was received: ApproximateReceiveCount. Counted at the receive, before delivery. */
  receiveCount: number;
  /** Epoch ms of the first receive: ApproximateFirstReceiveTimestamp. */
  firstReceivedAt?: number;
  /** Epoch ms of the latest receive: the 12-hour cap on visibility counts from it. */
  receivedAt?: number;
  /** Epoch ms until which it is in flight (invisible); 0 when it never was. */
  invisibleUntil: number;
  /** The handle the latest receive issued; only it deletes the message or changes its visibility. */
  receiptHandle?: string;
  /** Set in a dead-letter queue: the ARN of the queue the message was moved from. */
  deadLetterSourceArn?: string;
}

/**
 * What stays of a deleted (or redriven) FIFO message until its deduplication window ends: enough to
 * answer a duplicate send with the original message id.
 */
export interface DeduplicationRecord {
  deleted: true;
  messageId: string;
  sequence: string;
  sentAt: number;
  deduplicationId: string;
}

export interface OutgoingMessage {
  body: string;
  groupId?: string;
  deduplicationId?: string;
  attributes?: Record<string, string>;
}

/** Where a record says it comes from. */
export interface RecordSource {
  arn: string;
  region: string;
  senderId: string;
}

/** XML 1.0's characters: the only ones SQS accepts in a body or an attribute value. */
const OUTSIDE_SQS_CHARACTERS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
/** Group and deduplication ids: 1 to 128 letters, digits and punctuation. */
const SQS_ID = /^[\x21-\x7E]{1,128}$/;
/** Attribute names: letters, digits, `_`, `-`, `.`; no leading, trailing or doubled `.`; at most 256. */
const ATTRIBUTE_NAME = /^(?!\.)(?!.*\.\.)[A-Za-z0-9_.-]{1,256}(?<!\.)$/;
const RESERVED_ATTRIBUTE_PREFIX = /^(aws\.|amazon\.)/i;

/** Refuses what SendMessage refuses, with SQS's reason. */
export function checkOutgoingMessage(message: OutgoingMessage, fifo: boolean): void {
  const { body, groupId, deduplicationId } = message;
  const attributes = message.attributes ?? {};
  if (typeof body !== 'string' || body.length === 0) {
    throw new InvalidParameterValueError('The message body must be a non-empty string');
  }
  if (OUTSIDE_SQS_CHARACTERS.test(body)) {
    throw new InvalidMessageContentsError('The message body contains characters outside the allowed set');
  }
  const names = Object.keys(attributes);
  if (names.length > MAX_ATTRIBUTES) {
    throw new InvalidParameterValueError(
      `A message can have at most ${MAX_ATTRIBUTES} attributes, got ${names.length}`,
    );
  }
  for (const name of names) {
    if (!ATTRIBUTE_NAME.test(name) || RESERVED_ATTRIBUTE_PREFIX.test(name)) {
      throw new InvalidParameterValueError(`Message attribute name "${name}" is invalid`);
    }
    const value = attributes[name];
    if (typeof value !== 'string' || value.length === 0) {
      throw new InvalidParameterValueError(
        `Message attribute "${name}" must contain a non-empty value of type String`,
      );
    }
    if (OUTSIDE_SQS_CHARACTERS.test(value)) {
      throw new InvalidMessageContentsError(
        `Message attribute "${name}" contains characters outside the allowed set`,
      );
    }
  }
  const size = messageSize(body, attributes);
  if (size > MAX_MESSAGE_BYTES) {
    throw new InvalidParameterValueError(
      `The message is ${size} bytes (body and attributes); the most SQS accepts is ${MAX_MESSAGE_BYTES}`,
    );
  }
  if (groupId !== undefined && !SQS_ID.test(groupId)) {
    throw new InvalidParameterValueError('MessageGroupId must be 1 to 128 letters, digits or punctuation');
  }
  if (deduplicationId !== undefined && !SQS_ID.test(deduplicationId)) {
    throw new InvalidParameterValueError(
      'MessageDeduplicationId must be 1 to 128 letters, digits or punctuation',
    );
  }
  if (fifo && groupId === undefined) {
    throw new InvalidParameterValueError('The request must contain the parameter MessageGroupId');
  }
  if (!fifo && deduplicationId !== undefined) {
    throw new InvalidParameterValueError('MessageDeduplicationId is valid only for FIFO queues');
  }
}

/** SQS counts the body and each attribute's name, data type and value against the size limit. */
function messageSize(body: string, attributes: Record<string, string>): number {
  let size = Buffer.byteLength(body);
  for (const [name, value] of Object.entries(attributes)) {
    size += Buffer.byteLength(name) + Buffer.byteLength('String') + Buffer.byteLength(value);
  }
  return size;
}

/** Content-based deduplication: SHA-256 of the body only (SQS ignores the attributes for it). */
export function contentDeduplicationId(body: string): string {
  return createHash('sha256').update(body).digest('hex');
}

export function md5Hex(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

/**
 * MD5OfMessageAttributes as SQS computes it (and the SDKs verify it): over the attributes sorted by
 * name, each as length-prefixed name, length-prefixed data type, a transport byte (1: a string value)
 * and the length-prefixed value; lengths are 4-byte big-endian, text UTF-8.
 */
export function md5OfMessageAttributes(attributes: Record<string, string>): string {
  const hash = createHash('md5');
  const putLengthPrefixed = (text: string) => {
    const bytes = Buffer.from(text, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length);
    hash.update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    putLengthPrefixed(name);
    putLengthPrefixed('String');
    hash.update(Buffer.from([1]));
    putLengthPrefixed(attributes[name] as string);
  }
  return hash.digest('hex');
}

/**
 * A new receipt handle for a receive. SQS's are opaque and differ at every receive of a message; this
 * one names the message, so that a handle can be looked up, and the receive, so that an older handle
 * never matches the current one.
 */
export function newReceiptHandle(messageId: string, receiveCount: number): string {
  return Buffer.from(`${messageId}:${receiveCount}:${randomBytes(12).toString('hex')}`).toString('base64url');
}

/** The message a receipt handle names; a handle this queue cannot have issued is refused as SQS does. */
export function messageIdOfReceiptHandle(receiptHandle: string): string {
  const parts =
    typeof receiptHandle === 'string' ? Buffer.from(receiptHandle, 'base64url').toString().split(':') : [];
  if (parts.length !== 3 || !parts[0]) {
    throw new ReceiptHandleIsInvalidError(`The receipt handle "${receiptHandle}" is not valid`);
  }
  return parts[0];
}

/** A 20-digit decimal, so that sequences compare as strings. */
export function formatSequence(sequence: bigint): string {
  return sequence.toString().padStart(20, '0');
}

/** The record a Lambda event source mapping puts in `event.Records`, for this receive of the message. */
export function toSqsRecord(message: StoredMessage, source: RecordSource): SQSRecord {
  const fifo = source.arn.endsWith('.fifo');
  const attributes: SQSRecord['attributes'] = {
    ApproximateReceiveCount: String(message.receiveCount),
    SentTimestamp: String(message.sentAt),
    SenderId: source.senderId,
    ApproximateFirstReceiveTimestamp: String(message.firstReceivedAt ?? message.receivedAt),
  };
  if (fifo) attributes.SequenceNumber = message.sequence;
  if (message.groupId !== undefined) attributes.MessageGroupId = message.groupId;
  if (message.deduplicationId !== undefined) attributes.MessageDeduplicationId = message.deduplicationId;
  if (message.deadLetterSourceArn !== undefined) {
    attributes.DeadLetterQueueSourceArn = message.deadLetterSourceArn;
  }
  const hasAttributes = Object.keys(message.messageAttributes).length > 0;
  return {
    messageId: message.messageId,
    receiptHandle: message.receiptHandle as string,
    body: message.body,
    attributes,
    messageAttributes: toRecordAttributes(message.messageAttributes),
    md5OfBody: md5Hex(message.body),
    ...(hasAttributes ? { md5OfMessageAttributes: md5OfMessageAttributes(message.messageAttributes) } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: source.arn,
    awsRegion: source.region,
  };
}

/** Message attributes as Lambda's SQS events carry them (the list fields are always empty). */
function toRecordAttributes(attributes: Record<string, string>): SQSMessageAttributes {
  return Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [
      name,
      { stringValue: value, stringListValues: [], binaryListValues: [], dataType: 'String' },
    ]),
  );
}
