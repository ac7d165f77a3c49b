import type { Clock, TimerHandle } from "../clock.ts";
import type { DriverConnection } from "../driver.ts";
import { ConnectTimeoutError } from "../errors.ts";
import type { BackgroundWork } from "./background.ts";
import type { ResolvedPoolOptions } from "./options.ts";

/** The first retry after a failed connect, in milliseconds; it doubles with each failure. */
const RETRY_BASE_MS = 100;
/** The longest wait between connect attempts while the server is unreachable. */
const RETRY_MAX_MS = 5_000;

/** What the pool does with the outcome of a connect. */
export interface ConnectOutcomes {
  connected(connection: DriverConnection, generation: number, startedAt: number): void;
  failed(error: unknown, generation: number): void;
  /** The backoff after a failure ended: connects may start again. */
  retry(): void;
  /** An abandoned attempt's driver let go of its socket: its slot is free. */
  freed(): void;
}

/**
 * Opens connections, each bounded by `connectTimeout` and by close(), and
 * backs off after a failure: the next attempt waits 100 ms, doubling up to
 * 5 s, each delay jittered to between half and all of that, so pools that
 * lost the server together do not return together.
 */
export class Connector {
  /** Connects in flight. */
  connecting = 0;
  /** The last connect failure and when it happened, from the pool's clock. */
  lastError: unknown = undefined;
  lastErrorAt = -Infinity;
  readonly #options: ResolvedPoolOptions;
  readonly #clock: Clock;
  readonly #background: BackgroundWork;
  readonly #outcomes: ConnectOutcomes;
  /** Of `connecting`, the attempts given up whose driver still holds a socket. */
  abandoned = 0;
  /** Connect failures since the last success: the exponent of the backoff. */
  #failures = 0;
  /** Set while connects back off after a failure; fires the next attempt. */
  #retryTimer: TimerHandle | undefined;

  constructor(
    options: ResolvedPoolOptions,
    clock: Clock,
    background: BackgroundWork,
    outcomes: ConnectOutcomes,
  ) {
    this.#options = options;
    this.#clock = clock;
    this.#background = background;
    this.#outcomes = outcomes;
  }

  /** Whether connects wait out a backoff now. */
  get backingOff(): boolean {
    return this.#retryTimer !== undefined;
  }

  /** Starts one connect for the pool's `generation`; its outcome goes to the outcomes. */
  connect(generation: number): void {
    this.connecting++;
    const startedAt = this.#clock.now();
    const timeout = this.#options.connectTimeout;
    /** Set once the driver's own promise has settled, whatever the deadline did. */
    let driverDone = false;
    let own: Promise<unknown> | undefined;
    const attempt = this.#background.bounded(
      timeout,
      () => new ConnectTimeoutError(timeout),
      (signal) => {
        const connecting = this.#options.driver.connect(signal);
        own = connecting;
        const done = () => void (driverDone = true);
        connecting.then(done, done);
        return connecting;
      },
      (late) => this.#background.close(late),
    );
    this.#background.track(attempt.then(
      (connection) => {
        this.connecting--;
        this.#failures = 0;
        // Another attempt got through: the server is back, stop backing off.
        this.stop();
        this.#outcomes.connected(connection, generation, startedAt);
      },
      (error) => {
        if (driverDone || own === undefined) this.connecting--;
        else {
          // Given up at the deadline or on close(), but the driver still
          // holds its socket: it keeps its slot until the driver lets go, so
          // sockets never outnumber maxOpenConns.
          this.abandoned++;
          const release = () => {
            this.connecting--;
            this.abandoned--;
            this.#outcomes.freed();
          };
          own.then(release, release);
        }
        this.lastError = error;
        this.lastErrorAt = this.#clock.now();
        this.#outcomes.failed(error, generation);
      },
    ));
  }

  /** Holds further connects back after a failure, unless a backoff already runs. */
  backOff(): void {
    if (this.#retryTimer !== undefined) return;
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** this.#failures++);
    const delay = ceiling * (0.5 + 0.5 * (this.#clock.random?.() ?? Math.random()));
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#outcomes.retry();
    }, delay);
  }

  /** Ends a backoff in progress. */
  stop(): void {
    if (this.#retryTimer === undefined) return;
    this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }
}
