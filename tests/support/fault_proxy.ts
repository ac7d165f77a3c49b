/**
 * A TCP proxy for fault injection, running inside the test process between
 * the pool and the server. Works under Deno and Bun (`node:net`).
 *
 * Each accepted connection is a {@linkcode Pair}: the client socket and its
 * upstream socket. A pair's {@linkcode Fault} can change while it runs:
 *
 * - `pass`: forward both ways, each direction delayed by `delay.up` /
 *   `delay.down` ms (default 0).
 * - `blackhole`: stop reading both sockets and forward nothing, as a network
 *   partition does: the client sees a half-open connection. Nothing is lost:
 *   back in `pass`, the held bytes (and a held FIN) flow on.
 * - `cut`: FIN both sockets (`end()`); they are destroyed 1 s later if the
 *   peers do not close.
 * - `reset`: RST both sockets with `resetAndDestroy()`, which Deno 2.9 and
 *   Bun 1.4 both have (`destroy()` where it is missing). The client sees ECONNRESET.
 *
 * The fault set with `proxy.set()` applies to every live pair and is the
 * default for new ones: a new pair under `cut` or `reset` is closed that way
 * right after accept. `proxy.refuse(true)` stops listening, so new connects
 * fail with ECONNREFUSED while live pairs go on; `refuse(false)` listens on
 * the same port again.
 *
 * @module
 */

import { createServer, type Server, type Socket } from "node:net";
import { connect } from "node:net";

/** What a pair does with its traffic. */
export interface Fault {
  mode: "pass" | "blackhole" | "cut" | "reset";
  /** Milliseconds added to each direction in `pass`: `up` is client to server. */
  delay?: { up?: number; down?: number };
}

/** Bytes queued in one direction before its source is paused. */
const MAX_QUEUED_BYTES = 1 << 20;
/** Milliseconds a cut socket has to close before it is destroyed. */
const CUT_GRACE = 1_000;

/** One delayed direction: chunks (or the end, as `null`) due at a time, in order. */
class Direction {
  readonly #from: Socket;
  readonly #to: Socket;
  readonly #queue: { due: number; chunk: Uint8Array | null }[] = [];
  #queued = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  delay = 0;
  held = false;

  constructor(from: Socket, to: Socket) {
    this.#from = from;
    this.#to = to;
    from.on("data", (chunk: Uint8Array) => this.#push(chunk));
    from.on("end", () => this.#push(null));
  }

  #push(chunk: Uint8Array | null): void {
    const last = this.#queue.at(-1)?.due ?? 0;
    // Never earlier than the chunk before it, so a shorter delay cannot reorder bytes.
    this.#queue.push({ due: Math.max(last, Date.now() + this.delay), chunk });
    this.#queued += chunk?.length ?? 0;
    if (this.#queued > MAX_QUEUED_BYTES) this.#from.pause();
    this.flush();
  }

  /** Delivers what is due; schedules the rest. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.held) return;
    while (this.#queue.length > 0 && this.#queue[0].due <= Date.now()) {
      const { chunk } = this.#queue.shift()!;
      if (chunk === null) {
        this.#to.end();
        continue;
      }
      this.#queued -= chunk.length;
      if (!this.#to.destroyed) this.#to.write(chunk);
    }
    if (this.#queue.length > 0) {
      this.#timer = setTimeout(() => this.flush(), this.#queue[0].due - Date.now());
    }
    if (this.#queued <= MAX_QUEUED_BYTES && !this.#from.destroyed) this.#from.resume();
  }

  /** Stops reading and delivering until `flush()` after `held = false`. */
  hold(): void {
    this.held = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#from.pause();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }
}

/** One proxied connection: the client's socket and the one to the server. */
export class Pair {
  readonly client: Socket;
  readonly upstream: Socket;
  readonly #up: Direction;
  readonly #down: Direction;
  #fault: Fault = { mode: "pass" };
  #graceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves once both sockets have closed. */
  readonly closed: Promise<void>;

  constructor(client: Socket, upstream: Socket) {
    this.client = client;
    this.upstream = upstream;
    this.#up = new Direction(client, upstream);
    this.#down = new Direction(upstream, client);
    const closes = [client, upstream].map((socket) => {
      // An error on one side ends the other; the error itself is expected here.
      socket.on("error", () => this.#other(socket).destroy());
      return new Promise<void>((resolve) => socket.once("close", () => resolve()));
    });
    // Whoever closes first without FIN (RST, destroy) takes the other side with it.
    for (const socket of [client, upstream]) {
      socket.once("close", () => {
        if (this.#fault.mode !== "blackhole") this.#other(socket).destroy();
      });
    }
    this.closed = Promise.all(closes).then(() => {
      clearTimeout(this.#graceTimer);
      this.#up.stop();
      this.#down.stop();
    });
  }

  #other(socket: Socket): Socket {
    return socket === this.client ? this.upstream : this.client;
  }

  /** The current fault. */
  get fault(): Fault {
    return this.#fault;
  }

  /** Switches this pair to `fault`. `cut` and `reset` act at once. */
  set(fault: Fault): void {
    this.#fault = fault;
    this.#up.delay = fault.delay?.up ?? 0;
    this.#down.delay = fault.delay?.down ?? 0;
    if (fault.mode === "blackhole") {
      this.#up.hold();
      this.#down.hold();
      return;
    }
    this.#up.held = this.#down.held = false;
    if (fault.mode === "pass") {
      this.#up.flush();
      this.#down.flush();
      // A side that closed while blackholed takes the other with it once healed.
      if (this.client.destroyed || this.upstream.destroyed) {
        this.client.destroy();
        this.upstream.destroy();
      }
    } else if (fault.mode === "cut") {
      this.client.end();
      this.upstream.end();
      this.#graceTimer ??= setTimeout(() => {
        this.client.destroy();
        this.upstream.destroy();
      }, CUT_GRACE);
    } else {
      for (const socket of [this.client, this.upstream]) {
        if (typeof socket.resetAndDestroy === "function") socket.resetAndDestroy();
        else socket.destroy();
      }
    }
  }
}

/** A running proxy; see the module doc. */
export interface FaultProxy {
  /** The port it listens on, at 127.0.0.1. */
  readonly port: number;
  /** Live pairs, oldest first: each stays until both its sockets closed. */
  readonly pairs: readonly Pair[];
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Sets `fault` on every live pair and as the default for new pairs. */
  set(fault: Fault): void;
  /** Stops (`true`) or resumes (`false`) listening; live pairs go on. */
  refuse(refusing: boolean): Promise<void>;
  /** Resolves once no pair is live, or rejects after `timeout` ms. */
  drained(timeout?: number): Promise<void>;
  /** Resets every pair and stops listening. */
  close(): Promise<void>;
}

/**
 * Starts a proxy on a free 127.0.0.1 port to `target`.
 *
 * @example
 * ```ts ignore
 * const proxy = await startFaultProxy({ host: "127.0.0.1", port: 5432 });
 * proxy.set({ mode: "blackhole" });
 * await proxy.close();
 * ```
 */
export async function startFaultProxy(
  target: { host: string; port: number },
): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let fault: Fault = { mode: "pass" };
  let accepted = 0;
  let listening = true;
  let closing = false;
  const server: Server = createServer((client) => {
    accepted++;
    if (closing) return void client.destroy();
    const upstream = connect(target.port, target.host);
    const pair = new Pair(client, upstream);
    pairs.add(pair);
    pair.closed.then(() => pairs.delete(pair));
    pair.set(fault);
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  const address = server.address();
  if (typeof address !== "object" || address === null) {
    server.close();
    throw new Error("Cannot start fault proxy: no address");
  }
  const port = address.port;
  // Not waiting for close's callback: it fires only once every pair is gone.
  const stopListening = () => new Promise<void>((resolve) => (server.close(), setTimeout(resolve)));

  return {
    port,
    get pairs() {
      return [...pairs];
    },
    get accepted() {
      return accepted;
    },
    set(next) {
      fault = next;
      for (const pair of pairs) pair.set(next);
    },
    async refuse(refusing) {
      if (refusing === !listening || closing) return;
      listening = !refusing;
      await (refusing ? stopListening() : listen(port));
    },
    async drained(timeout = 5_000) {
      const deadline = Date.now() + timeout;
      while (pairs.size > 0) {
        if (Date.now() > deadline) {
          throw new Error(`Timed out after ${timeout} ms waiting for ${pairs.size} proxy pairs`);
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async close() {
      if (closing) return;
      closing = true;
      for (const pair of pairs) pair.set({ mode: "reset" });
      if (listening) await stopListening();
      await Promise.all([...pairs].map((pair) => pair.closed));
    },
  };
}
