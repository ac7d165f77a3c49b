import { connect } from "node:net";
import type { Endpoint } from "./_resolve_options.ts";

/** The CancelRequest code: 1234 in the high 16 bits, 5678 in the low. */
const CANCEL_REQUEST_CODE = 80877102;

/**
 * Asks the server to cancel what the backend `pid` runs, on a socket of its
 * own: a CancelRequest (length 16, the code, the pid, the secret key), as
 * node-postgres has no per-query cancel to wait for. Resolves `true` once
 * the server has closed that socket, which it does after signalling the
 * backend, or when nothing was sent; `false` when it cannot tell (an error
 * or `timeout` ms after the request was written), as the request may then
 * still arrive. Never rejects.
 */
export function sendCancelRequest(
  { host, port }: Endpoint,
  pid: number,
  secretKey: number,
  timeout: number,
): Promise<boolean> {
  return new Promise((resolve) => {
    let written = false;
    let settled = false;
    const socket = host.startsWith("/")
      ? connect({ path: `${host}/.s.PGSQL.${port}` })
      : connect({ host, port });
    const done = (landed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(landed);
    };
    const timer = setTimeout(() => done(!written), timeout);
    socket.once("connect", () => {
      const request = new DataView(new ArrayBuffer(16));
      request.setInt32(0, 16);
      request.setInt32(4, CANCEL_REQUEST_CODE);
      request.setInt32(8, pid);
      request.setInt32(12, secretKey);
      written = true;
      socket.write(new Uint8Array(request.buffer));
    });
    socket.on("error", () => done(!written));
    socket.once("close", (hadError: boolean) => done(!hadError || !written));
    // The server sends nothing back; reading is what reports its close.
    socket.resume();
  });
}
