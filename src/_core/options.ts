import type { Clock } from "../clock.ts";
import type { PoolOptions } from "../config.ts";
import type { PoolErrorEvent } from "../errors.ts";
import type { Driver } from "../driver.ts";
import { hideUrlCredentials } from "./credentials.ts";

/** Options with every default filled in. */
export interface ResolvedPoolOptions {
  driver: Driver;
  name: string;
  maxOpenConns: number;
  maxIdleConns: number;
  minIdleConns: number;
  connMaxLifetime: number;
  connMaxLifetimeJitter: number;
  connMaxIdleTime: number;
  healthInterval: number;
  acquireTimeout: number;
  connectTimeout: number;
  checkTimeout: number;
  validateAfterIdle: number;
  closeTimeout: number;
  /** Infinity when unbounded. */
  maxWaiting: number;
  maxConnecting: number;
  maxPipeline: number;
  breakerThreshold: number;
  leakDetectionThreshold: number;
  resetOnReadOnly: boolean;
  resetSession: boolean | "auto";
  onError: ((error: unknown, event: PoolErrorEvent) => void) | undefined;
  clock: Clock | undefined;
}

/** The longest delay timers accept: larger ones fire at once in every runtime. */
export const MAX_TIMER_MS = 2_147_483_647;

const DURATION_DEFAULTS = {
  connMaxLifetime: 1_800_000,
  connMaxIdleTime: 600_000,
  healthInterval: 30_000,
  acquireTimeout: 30_000,
  connectTimeout: 10_000,
  checkTimeout: 5_000,
  validateAfterIdle: 1_000,
  closeTimeout: 10_000,
  leakDetectionThreshold: 0,
} as const;

const CLOCK_METHODS = [
  "now",
  "setTimeout",
  "clearTimeout",
  "setInterval",
  "clearInterval",
] as const;

const KNOWN_OPTIONS = new Set<string>([
  "driver",
  "name",
  "maxOpenConns",
  "maxIdleConns",
  "minIdleConns",
  "maxWaiting",
  "maxConnecting",
  "maxPipeline",
  "breakerThreshold",
  "resetOnReadOnly",
  "resetSession",
  "connMaxLifetimeJitter",
  "onError",
  "clock",
  ...Object.keys(DURATION_DEFAULTS),
]);

/**
 * Checks `options` and fills in the defaults.
 *
 * @throws {TypeError} An option of the wrong type, an unknown option, or no driver.
 * @throws {RangeError} A size or duration out of range.
 */
export function resolvePoolOptions(options: PoolOptions): ResolvedPoolOptions {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot create pool: options must be an object, got ${describe(options)}`);
  }
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name)) {
      throw new TypeError(`Cannot create pool: unknown option "${name}"`);
    }
  }
  const { driver, onError, clock } = options;
  if (typeof driver?.connect !== "function") {
    throw new TypeError(
      `Cannot create pool: driver must have a connect() method, got ${describe(driver)}`,
    );
  }
  if (onError !== undefined && typeof onError !== "function") {
    throw new TypeError(`Cannot create pool: onError must be a function, got ${describe(onError)}`);
  }
  if (clock !== undefined && !isClock(clock)) {
    throw new TypeError(`Cannot create pool: clock must implement Clock, got ${describe(clock)}`);
  }
  const name = options.name ?? "default";
  if (typeof name !== "string") {
    throw new TypeError(`Cannot create pool: name must be a string, got ${describe(name)}`);
  }
  if (name === "") {
    throw new RangeError(`Cannot create pool: name must be a non-empty string, got ""`);
  }
  const maxOpenConns = size(options, "maxOpenConns", 10, 1);
  const maxIdleConns = size(options, "maxIdleConns", maxOpenConns, 0);
  if (maxIdleConns > maxOpenConns) {
    throw new RangeError(
      `Cannot create pool: maxIdleConns (${maxIdleConns}) exceeds maxOpenConns (${maxOpenConns})`,
    );
  }
  const minIdleConns = size(options, "minIdleConns", 0, 0);
  if (minIdleConns > maxIdleConns) {
    throw new RangeError(
      `Cannot create pool: minIdleConns (${minIdleConns}) exceeds maxIdleConns (${maxIdleConns})`,
    );
  }
  const durations = {} as Record<keyof typeof DURATION_DEFAULTS, number>;
  for (const [name, fallback] of Object.entries(DURATION_DEFAULTS)) {
    durations[name as keyof typeof DURATION_DEFAULTS] = validateDuration(
      `Cannot create pool: ${name}`,
      options[name as keyof PoolOptions],
      fallback,
    );
  }
  const { connMaxLifetime } = durations;
  const connMaxLifetimeJitter = validateDuration(
    "Cannot create pool: connMaxLifetimeJitter",
    options.connMaxLifetimeJitter,
    connMaxLifetime / 10,
  );
  if (connMaxLifetimeJitter > connMaxLifetime && connMaxLifetime > 0) {
    throw new RangeError(
      `Cannot create pool: connMaxLifetimeJitter (${connMaxLifetimeJitter}) exceeds connMaxLifetime (${connMaxLifetime})`,
    );
  }
  const maxWaiting = options.maxWaiting === undefined
    ? Infinity
    : size(options, "maxWaiting", 0, 0);
  const resetOnReadOnly = flag(options, "resetOnReadOnly");
  const resetSession = sessionReset(options.resetSession, driver.sharesSessions === true);
  const maxConnecting = size(options, "maxConnecting", 4, 1);
  const maxPipeline = size(options, "maxPipeline", 10, 0);
  const breakerThreshold = size(options, "breakerThreshold", 5, 0);
  return {
    driver,
    name,
    maxOpenConns,
    maxIdleConns,
    minIdleConns,
    ...durations,
    connMaxLifetimeJitter,
    maxWaiting,
    maxConnecting,
    maxPipeline,
    breakerThreshold,
    resetOnReadOnly,
    resetSession,
    onError,
    clock,
  };
}

/**
 * Checks that `signal` is an AbortSignal or undefined.
 *
 * @throws {TypeError} Naming the action and what was given instead.
 */
export function checkSignal(action: string, signal: unknown): void {
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`${action}: signal must be an AbortSignal, got ${typeof signal}`);
  }
}

/** Whether `value` has every method of a {@linkcode Clock}, and `random` is a function when present. */
export function isClock(value: unknown): value is Clock {
  const clock = value as Partial<Clock> | null | undefined;
  return CLOCK_METHODS.every((name) => typeof clock?.[name] === "function") &&
    (clock?.random === undefined || typeof clock.random === "function");
}

/**
 * Checks a duration in milliseconds, or returns `fallback` when undefined.
 * `subject` opens the error message, e.g. `"Cannot get a connection: timeout"`.
 *
 * @throws {TypeError} When the value is not a number.
 * @throws {RangeError} When it is negative, not finite, or too large for a timer.
 */
export function validateDuration(subject: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`${subject} must be a number of milliseconds, got ${describe(value)}`);
  }
  if (!(value >= 0 && value <= MAX_TIMER_MS)) {
    throw new RangeError(
      `${subject} must be from 0 to ${MAX_TIMER_MS} milliseconds, got ${describe(value)}`,
    );
  }
  return value;
}

function size(
  options: PoolOptions,
  name:
    | "maxOpenConns"
    | "maxIdleConns"
    | "minIdleConns"
    | "maxWaiting"
    | "maxConnecting"
    | "maxPipeline"
    | "breakerThreshold",
  fallback: number,
  min: number,
): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`Cannot create pool: ${name} must be an integer, got ${describe(value)}`);
  }
  if (!Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `Cannot create pool: ${name} must be an integer of at least ${min}, got ${describe(value)}`,
    );
  }
  return value;
}

/**
 * `resetSession`, `"auto"` unless given; behind a transaction pooler `false`,
 * as no session is the connection's own to clear.
 */
function sessionReset(value: unknown, sharesSessions: boolean): boolean | "auto" {
  if (value === undefined) return sharesSessions ? false : "auto";
  if (typeof value !== "boolean" && value !== "auto") {
    throw new TypeError(
      `Cannot create pool: resetSession must be true, false or "auto", got ${describe(value)}`,
    );
  }
  if (value !== false && sharesSessions) {
    throw new TypeError(
      `Cannot create pool: resetSession (${
        JSON.stringify(value)
      }) cannot clear a session the driver shares between transactions (a transaction pooler such as PgBouncer); leave it off`,
    );
  }
  return value;
}

function flag(options: PoolOptions, name: "resetOnReadOnly"): boolean {
  const value = options[name] ?? false;
  if (typeof value !== "boolean") {
    throw new TypeError(`Cannot create pool: ${name} must be a boolean, got ${describe(value)}`);
  }
  return value;
}

/**
 * A value as an error message shows it: strings quoted (a URL's user name
 * and password hidden: a connection URL is a likely wrong value), objects
 * and functions by kind.
 */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(hideUrlCredentials(value));
  if (typeof value === "function") return "a function";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object" && value !== null) return "an object";
  return String(value);
}
