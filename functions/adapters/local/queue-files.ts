import { chmod, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ProcessLock } from './process-lock.ts';
import { QueueLockedError } from './queue-errors.ts';
import type { DeduplicationRecord, StoredMessage } from './sqs-message.ts';
import { JsonStateFile, syncFolder } from './state-file.ts';

/** A message, or what stays of a deleted FIFO message while its deduplication window lasts. */
export type QueueEntry = StoredMessage | DeduplicationRecord;

const ENTRY_SUFFIX = '.json';
const TEMP_SUFFIX = '.tmp';
const LOCK_FILE = 'queue.lock';

/**
 * One queue's folder: one JSON file per message, named by its message id, replaced atomically (temp
 * file, fsync, rename, fsync of the folder: JsonStateFile) at each change of the message (send, receive,
 * visibility change) and unlinked (then the folder fsynced) when it is deleted or redriven.
 *
 * Why one file per message rather than an append-only log: a message's whole state (body, receive count,
 * invisible-until time, current receipt handle) is one small document that only ever moves from one
 * consistent version to the next, so a crash at any instant leaves every message either as it was or as
 * it became, never half-written; reopening is reading the folder (no replay, no torn last record to
 * detect); a deleted message gives its space back at once (no compaction); and the file names make the
 * queue inspectable with `ls` and `cat`. The price is two fsyncs per change instead of one, which is
 * nothing at the rates embedded Kiln sees (Git pushes and schedules, not thousands of messages a second).
 *
 * The folder is private to its owner (0700, files 0600: message bodies may carry anything), and locked
 * by the process that has it open: a second owner would trust its own copy of the queue and hand the
 * same message out twice. The lock goes with the process, however it ends (see ProcessLock).
 */
export class QueueFolder {
  readonly path: string;
  readonly #lock: ProcessLock;

  private constructor(path: string, lock: ProcessLock) {
    this.path = path;
    this.#lock = lock;
  }

  /** Creates (or takes over) the folder and reads every entry a previous process left in it. */
  static async open(
    path: string,
    queueName: string,
  ): Promise<{ folder: QueueFolder; entries: QueueEntry[] }> {
    await mkdir(path, { recursive: true, mode: 0o700 });
    await chmod(path, 0o700);
    const lockPath = join(path, LOCK_FILE);
    const lock = ProcessLock.tryAcquire(lockPath);
    if (!lock) throw new QueueLockedError(queueName, path);
    try {
      await chmod(lockPath, 0o600);
      return { folder: new QueueFolder(path, lock), entries: await readEntries(path) };
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  /** Replaces the entry's file; resolves once it is on disk. */
  write(entry: QueueEntry): Promise<void> {
    return new JsonStateFile<QueueEntry>(this.#entryPath(entry.messageId)).write(entry);
  }

  /** Removes the entry's file, durably: a deleted message must not come back after a power cut. */
  async remove(messageId: string): Promise<void> {
    await rm(this.#entryPath(messageId), { force: true });
    await syncFolder(this.path);
  }

  /** Lets another owner open the folder. */
  release(): void {
    this.#lock.release();
  }

  #entryPath(messageId: string): string {
    return join(this.path, `${messageId}${ENTRY_SUFFIX}`);
  }
}

/**
 * Every entry in the folder. Temp files are writes a crash interrupted before their rename: the entry
 * they were replacing is still there, whole, so they are dropped.
 */
async function readEntries(path: string): Promise<QueueEntry[]> {
  const entries: QueueEntry[] = [];
  for (const name of await readdir(path)) {
    if (name.endsWith(TEMP_SUFFIX)) {
      await rm(join(path, name), { force: true });
    } else if (name.endsWith(ENTRY_SUFFIX)) {
      // Our own files, only ever replaced whole: a parse error is a real fault, and says which file.
      try {
        entries.push(JSON.parse(await readFile(join(path, name), 'utf8')) as QueueEntry);
      } catch (error) {
        throw new Error(`Cannot read queue entry ${join(path, name)}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
  }
  return entries;
}
