/** dynalite ships no type definitions; this declares the part Kiln uses. */
declare module 'dynalite' {
  import type { Server } from 'node:http';

  interface DynaliteOptions {
    /** LevelDB directory; in memory when absent. */
    path?: string;
    /** Milliseconds a table stays CREATING / DELETING / UPDATING (default 500). */
    createTableMs?: number;
    deleteTableMs?: number;
    updateTableMs?: number;
  }

  /** An HTTP server speaking the DynamoDB API; `close()` also closes its database. */
  export default function dynalite(options?: DynaliteOptions): Server;
}
