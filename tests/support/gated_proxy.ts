/**
 * A loopback TCP proxy that holds its clients until told to pass them on,
 * for the driver tests that abort a connect in flight or close a connection
 * whose server stopped answering.
 *
 * @module
 */

import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy to the server that holds every client until `open()` is
 * called, so a test can abort a connect while it is in flight.
 */
export async function gatedProxy(target: { host: string; port: number }) {
  const clients: Socket[] = [];
  const closed: Socket[] = [];
  let open = false;
  const waiting: (() => void)[] = [];
  const pipes: [Socket, Socket][] = [];
  const server: Server = createServer((client) => {
    clients.push(client);
    client.on("close", () => closed.push(client));
    client.on("error", () => {});
    // Buffered rather than paused: a paused socket would not see its end.
    const held: Uint8Array[] = [];
    const hold = (chunk: Uint8Array) => held.push(chunk);
    client.on("data", hold);
    const connect = () => {
      if (client.destroyed) return;
      const upstream = createConnection(target.port, target.host);
      upstream.on("error", () => client.destroy());
      client.on("close", () => upstream.destroy());
      upstream.on("close", () => client.destroy());
      client.off("data", hold);
      for (const chunk of held) upstream.write(chunk);
      client.pipe(upstream);
      upstream.pipe(client);
      pipes.push([client, upstream]);
    };
    open ? connect() : waiting.push(connect);
  });
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    })
  );
  return {
    port,
    clients,
    closed,
    open() {
      open = true;
      for (const connect of waiting.splice(0)) connect();
    },
    /** Stops forwarding, in both directions, without closing anything. */
    freeze() {
      for (const [client, upstream] of pipes) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of clients) client.destroy();
        server.close(() => resolve());
      }),
  };
}
