import { DatabaseSync } from 'node:sqlite';

/** SQLite's "database is locked": another process holds the lock. */
const SQLITE_BUSY = 5;

/** Locks held by this process, kept reachable so that a garbage-collected handle never releases one early. */
const held = new Set<DatabaseSync>();

/**
 * An exclusive lock on a file, held by this process until `release()` or until the process ends, however
 * it ends: the operating system drops it with the process (a POSIX record lock, taken through SQLite,
 * which is the one portable way Node offers). A lock file or pid file left by a killed process would need
 * a stale-lock check, and two processes breaking the same stale lock at once can both win; this cannot.
 * The file itself stays (an empty SQLite database): removing it would let a second process lock a new
 * file of the same name while the first still holds the old one.
 */
export class ProcessLock {
  readonly path: string;
  #database: DatabaseSync | undefined;

  private constructor(path: string, database: DatabaseSync) {
    this.path = path;
    this.#database = database;
  }

  /** Takes the lock if nobody holds it; undefined (at once, without waiting) if another process does. */
  static tryAcquire(path: string): ProcessLock | undefined {
    const database = new DatabaseSync(path);
    try {
      // The journal in memory, so that holding the lock leaves no `-journal` file beside it.
      database.exec('PRAGMA journal_mode = MEMORY; BEGIN EXCLUSIVE');
    } catch (error) {
      database.close();
      if ((error as { errcode?: number }).errcode === SQLITE_BUSY) return undefined;
      throw error;
    }
    held.add(database);
    return new ProcessLock(path, database);
  }

  release(): void {
    if (!this.#database) return;
    held.delete(this.#database);
    this.#database.close();
    this.#database = undefined;
  }
}
