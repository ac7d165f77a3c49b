/**
 * The commands of the model-based test of the pool, and the pool options it
 * runs them under, as fast-check arbitraries.
 *
 * @module
 */

import fc from "fast-check";

/** The pool's options for one run; every duration in milliseconds, 0 for off. */
export interface ModelConfig {
  maxOpenConns: number;
  maxIdleConns: number;
  maxWaiting: number | undefined;
  /** Undefined for the default (4). */
  maxConnecting: number | undefined;
  /** Statements `pool.execute` may pipeline on one connection; 0 for off. */
  maxPipeline: number;
  checkTimeout: number;
  resetSession: boolean;
  leakDetectionThreshold: number;
  acquireTimeout: number;
  connectTimeout: number;
  healthInterval: number;
  connMaxLifetime: number;
  /** Whether lifetimes get the default jitter (a tenth), drawn from `randomSeed`. */
  jitter: boolean;
  connMaxIdleTime: number;
  validateAfterIdle: number;
  closeTimeout: number;
  randomSeed: number;
}

/** One step. `pick` chooses among the candidates of the moment, modulo their number. */
export type Command =
  | { kind: "acquire"; timeout: number | undefined; signal: boolean }
  | { kind: "release"; pick: number }
  | { kind: "releaseTwice"; pick: number }
  | { kind: "dirtyRelease"; pick: number; resetFails: boolean }
  | { kind: "abort"; pick: number }
  | { kind: "advance"; ms: number }
  | { kind: "failConnects"; count: number; permanent: boolean }
  | { kind: "hangConnects" }
  | { kind: "openGate" }
  | { kind: "die"; pick: number; idle: boolean }
  | { kind: "pingFails"; pick: number }
  | { kind: "pingHangs"; pick: number }
  | { kind: "execute"; timeout: number | undefined }
  | { kind: "answer"; pick: number; count: number }
  | { kind: "transaction"; fails: boolean }
  | { kind: "reset" }
  | { kind: "close"; grace: number };

/** A duration in 50 ms steps (so timers often fall due together), or 0. */
function duration(max: number, zero = true): fc.Arbitrary<number> {
  const steps = fc.integer({ min: 1, max: max / 50 }).map((n) => n * 50);
  return zero ? fc.oneof(fc.constant(0), steps) : steps;
}

export const configArbitrary: fc.Arbitrary<ModelConfig> = fc.integer({ min: 1, max: 6 }).chain((
  maxOpenConns,
) =>
  fc.record({
    maxOpenConns: fc.constant(maxOpenConns),
    maxIdleConns: fc.integer({ min: 0, max: maxOpenConns }),
    maxWaiting: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    maxConnecting: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
    maxPipeline: fc.integer({ min: 0, max: 3 }),
    checkTimeout: duration(1_000),
    resetSession: fc.boolean(),
    leakDetectionThreshold: duration(3_000),
    acquireTimeout: duration(2_000),
    connectTimeout: duration(1_000),
    healthInterval: duration(2_000),
    connMaxLifetime: duration(6_000),
    jitter: fc.boolean(),
    connMaxIdleTime: duration(4_000),
    validateAfterIdle: duration(2_000),
    closeTimeout: duration(2_000),
    randomSeed: fc.integer({ min: 1, max: 2 ** 31 - 2 }),
  })
);

const pick = fc.nat({ max: 7 });

export const commandArbitrary: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("acquire" as const),
      timeout: fc.option(duration(1_500), { nil: undefined }),
      signal: fc.boolean(),
    }),
  },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("release" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("releaseTwice" as const), pick }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("dirtyRelease" as const),
      pick,
      resetFails: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("abort" as const), pick }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 120 }), duration(3_000, false)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("failConnects" as const),
      count: fc.integer({ min: 1, max: 3 }),
      permanent: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("hangConnects" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("openGate" as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("die" as const), pick, idle: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pingFails" as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pingHangs" as const), pick }) },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("execute" as const),
      timeout: fc.option(duration(1_500), { nil: undefined }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("answer" as const),
      pick,
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("transaction" as const), fails: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reset" as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("close" as const), grace: fc.nat({ max: 2_500 }) }),
  },
);
