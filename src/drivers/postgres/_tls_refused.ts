import { connect } from "node:net";

/** The SSLRequest code: 1234 in the high 16 bits, 5679 in the low. */
const SSL_REQUEST_CODE = 80877103;

/**
 * Whether the server at `host`:`port` answers a request for TLS with "no".
 * postgres.js, told to require TLS, starts a TLS handshake even after that
 * answer, and the server then hangs up: its error ("socket disconnected
 * before secure TLS connection was established") looks like a network
 * failure. This asks again on a socket of its own, sending only the
 * SSLRequest, so the driver can tell which it was. `false` when it cannot
 * tell (an error, `timeout` ms, or `signal` aborting). Never rejects.
 */
export function refusesTls(
  host: string,
  port: number,
  timeout: number,
  signal: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (refused: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", abort);
      socket.destroy();
      resolve(refused);
    };
    const abort = () => done(false);
    const timer = setTimeout(abort, timeout);
    signal.addEventListener("abort", abort, { once: true });
    socket.once("connect", () => {
      const request = new DataView(new ArrayBuffer(8));
      request.setInt32(0, 8);
      request.setInt32(4, SSL_REQUEST_CODE);
      socket.write(new Uint8Array(request.buffer));
    });
    socket.once("data", (chunk: Uint8Array) => done(chunk[0] === 0x4e)); // "N"
    socket.on("error", () => done(false));
    socket.once("close", () => done(false));
  });
}
