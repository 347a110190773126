import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * A JSON document the embedded providers keep on disk so that `npm start` can restart without losing
 * the processes and endpoints it created. Every write replaces the file atomically (temp file + rename),
 * so a crash mid-write leaves the previous version, and writes land in call order, so an older snapshot
 * never overwrites a newer one. Each write is flushed to disk (file, then folder) before it counts as
 * done, so a power cut keeps what a caller was told is written. The file may hold instance environments
 * (possibly secrets): it is created readable by its owner only.
 */
export class JsonStateFile<T> {
  readonly path: string;
  #lastWrite: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  /** The stored document, or undefined when none was written yet. The file is trusted: it is ours. */
  async read(): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Replaces the document with a snapshot of `value` taken now; resolves once it is on disk. */
  write(value: T): Promise<void> {
    const text = `${JSON.stringify(value, null, 2)}\n`;
    const write = this.#lastWrite.then(() => replaceAtomically(this.path, text));
    this.#lastWrite = write.catch(() => undefined);
    return write;
  }

  /** Deletes the file once the writes before it have landed; a missing file is fine. */
  remove(): Promise<void> {
    const removal = this.#lastWrite.then(() => rm(this.path, { force: true }));
    this.#lastWrite = removal.catch(() => undefined);
    return removal;
  }
}

async function replaceAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(text);
      await file.datasync();
    } finally {
      await file.close();
    }
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  await syncFolder(dirname(path));
}

/**
 * Makes a rename or an unlink in `folder` durable (a folder can be opened read-only and fsynced on Linux
 * and macOS).
 */
export async function syncFolder(folder: string): Promise<void> {
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
