import type { PoolCore } from "./core.ts";

/**
 * Each pool's core, for the parts of the package outside `ConnectionPool`
 * that must act as the pool itself: the cluster retries a read-only
 * transaction on the member it ran on, counting and backing off there.
 */
const cores = new WeakMap<object, PoolCore>();

/** Records `core` as `pool`'s; called once, by the pool's constructor. */
export function attachCore(pool: object, core: PoolCore): void {
  cores.set(pool, core);
}

/**
 * The core of `pool`.
 *
 * @throws {TypeError} `pool` is not a `ConnectionPool`.
 */
export function coreOf(pool: object): PoolCore {
  const core = cores.get(pool);
  if (core === undefined) throw new TypeError("Cannot find the pool's core: not a ConnectionPool");
  return core;
}
