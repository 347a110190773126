import { connect, createServer } from 'node:net';

/** Interface every embedded instance and endpoint binds to: nothing Kiln runs locally is reachable from elsewhere. */
export const LOOPBACK = '127.0.0.1';

/**
 * Asks the OS for a loopback port that is free right now (listen on port 0, read it, close).
 * Used where someone else must bind the port (a child process), so listening on 0 directly is not an
 * option; the small window in which another process could take the port is accepted.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not read the port the OS assigned'));
      });
    });
  });
}

/** Whether something accepts TCP connections on the loopback port right now (no bytes are sent). */
export function acceptsConnections(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    const settle = (accepted: boolean) => {
      socket.destroy();
      resolve(accepted);
    };
    socket.setTimeout(timeoutMs, () => settle(false));
    socket.once('connect', () => settle(true));
    socket.once('error', () => settle(false));
  });
}
