import type { Driver } from "../driver.ts";
import { ConnectTimeoutError } from "../errors.ts";
import type { BackgroundWork } from "./background.ts";

/** What a check of the server needs from the pool. */
export interface ServerCheckHost {
  readonly options: { readonly connectTimeout: number; readonly driver: Driver };
  readonly background: BackgroundWork;
  readonly generation: number;
  readonly closing: boolean;
  /** Retires every connection of the current generation, and reports `error` as `"failover"`. */
  failover(error: unknown): void;
}

/**
 * Tells a server going away from one backend terminated on its own: both
 * send SQLSTATE 57P01 (`pg_terminate_backend()` and a shutdown alike), and
 * some clients report either as a closed connection. When an established
 * connection dies that way, one connect checks the server: it fails for a
 * server shutting down, restarting or gone (57P03, refused, timed out), and
 * the pool then retires every connection; it succeeds when only that
 * backend was terminated, and the other connections stay. The probe's
 * connection closes at once; the dead one's socket is gone already, so it
 * never makes the sockets outnumber `maxOpenConns`. One check at a time:
 * the connections a shutdown ends together wait on the same verdict.
 */
export class ServerCheck {
  readonly #host: ServerCheckHost;
  #running = false;

  constructor(host: ServerCheckHost) {
    this.#host = host;
  }

  /** Checks the server after `error` ended a connection; see the class doc. */
  check(error: unknown): void {
    if (this.#running) return;
    this.#running = true;
    const host = this.#host;
    const { background, options: { connectTimeout, driver } } = host;
    const generation = host.generation;
    const probe = background.bounded(
      connectTimeout,
      () => new ConnectTimeoutError(connectTimeout),
      (signal) => driver.connect(signal),
      (late) => background.close(late),
    );
    background.track(probe.then(
      (connection) => {
        this.#running = false;
        background.close(connection);
      },
      (probeError) => {
        this.#running = false;
        if (host.closing || host.generation !== generation) return;
        // A refused login (bad password, no database) comes from a server that is there.
        if (driver.canRetryConnect?.(probeError) ?? true) host.failover(error);
      },
    ));
  }
}
