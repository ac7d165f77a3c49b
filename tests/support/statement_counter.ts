/**
 * A loopback TCP proxy that reads the PostgreSQL frontend messages its
 * clients send and counts the statements among them (each extended-protocol
 * Sync, each simple Query), so a test can see statements go out while an
 * earlier one still runs: pipelining, on the wire.
 *
 * @module
 */

import { connect, createServer, type Server, type Socket } from "node:net";

/** Protocol codes of the untyped messages a session may start with. */
const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** A running proxy. */
export interface StatementCounter {
  /** The port it listens on, at 127.0.0.1. */
  readonly port: number;
  /** Client connections accepted so far. */
  readonly accepted: number;
  /** Statements every client sent so far (Sync and Query messages). */
  readonly statements: number;
  close(): Promise<void>;
}

/** Starts a counting proxy on a free 127.0.0.1 port to `target`. */
export async function startStatementCounter(
  target: { host: string; port: number },
): Promise<StatementCounter> {
  let accepted = 0;
  let statements = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    let buffered = new Uint8Array(0);
    let started = false;
    client.on("data", (chunk: Uint8Array) => {
      upstream.write(chunk);
      const joined = new Uint8Array(buffered.length + chunk.length);
      joined.set(buffered);
      joined.set(chunk, buffered.length);
      let at = 0;
      while (true) {
        const view = new DataView(joined.buffer, joined.byteOffset + at);
        if (!started) {
          // Untyped: length, then a code; the startup message ends them.
          if (joined.length - at < 8) break;
          const length = view.getInt32(0);
          if (joined.length - at < length) break;
          const code = view.getInt32(4);
          if (code !== SSL_REQUEST && code !== GSS_REQUEST && code !== CANCEL_REQUEST) {
            started = true;
          }
          at += length;
          continue;
        }
        if (joined.length - at < 5) break;
        const length = view.getInt32(1);
        if (joined.length - at < 1 + length) break;
        const type = joined[at];
        if (type === 0x53 || type === 0x51) statements++; // 'S' Sync, 'Q' Query.
        at += 1 + length;
      }
      buffered = joined.slice(at);
    });
    upstream.on("data", (chunk: Uint8Array) => client.write(chunk));
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  return {
    port,
    get accepted() {
      return accepted;
    },
    get statements() {
      return statements;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
