/**
 * The faults the soak injects while its callers run: through the fault
 * proxy, on the server's backends, or on the pool itself; each bounded in
 * time and healed before the next.
 *
 * @module
 */

import type { ConnectionPool } from "../../mod.ts";
import type { Admin } from "../support/postgres.ts";
import type { FaultProxy } from "../support/fault_proxy.ts";
import { between, pick } from "./_soak_random.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export type Fault =
  | "reset"
  | "delay"
  | "blackhole"
  | "refuse"
  | "outage"
  | "terminate"
  | "poolReset"
  | "lull";

export const FAULT_WEIGHTS: Record<Fault, number> = {
  reset: 2,
  delay: 3,
  blackhole: 2,
  refuse: 2,
  outage: 1,
  terminate: 3,
  poolReset: 2,
  lull: 2,
};

/** Faults that can strike the idle connections of a lull. */
const LULL_FAULTS: Record<Fault | "none", number> = {
  none: 2,
  reset: 1,
  delay: 0,
  blackhole: 2,
  refuse: 0,
  outage: 0,
  terminate: 2,
  poolReset: 0,
  lull: 0,
};

/** What the faults strike. */
export interface FaultTarget {
  pool: ConnectionPool;
  /** The proxy between the pool and the server. */
  proxy: FaultProxy;
  /** An admin connection to the server, past the proxy. */
  admin: Admin;
  /** The `application_name` of the pool's connections. */
  applicationName: string;
}

/**
 * Injects one random fault, bounded in time, and heals it before returning.
 * `pause` holds the callers back while it runs, so connections go idle.
 */
export async function injectFault(
  fault: Fault,
  target: FaultTarget,
  rand: () => number,
  pause: (during: () => Promise<void>) => Promise<void>,
): Promise<string[]> {
  const { pool, proxy, admin, applicationName } = target;
  switch (fault) {
    case "reset":
      proxy.set({ mode: "reset" });
      proxy.set({ mode: "pass" });
      return [fault];
    case "delay": {
      const ms = between(rand, 5, 40);
      proxy.set({ mode: "pass", delay: { up: ms, down: ms } });
      try {
        await sleep(between(rand, 100, 400));
      } finally {
        proxy.set({ mode: "pass" });
      }
      return [fault];
    }
    case "blackhole":
      proxy.set({ mode: "blackhole" });
      try {
        await sleep(between(rand, 50, 600));
      } finally {
        proxy.set({ mode: "pass" });
      }
      return [fault];
    case "refuse":
      await proxy.refuse(true);
      try {
        await sleep(between(rand, 100, 400));
      } finally {
        await proxy.refuse(false);
      }
      return [fault];
    case "terminate": {
      const pids = await admin.backends(applicationName);
      for (const pid of pids) {
        if (rand() < 0.4) await admin.query("select pg_terminate_backend($1)", [pid]);
      }
      return [fault];
    }
    case "poolReset":
      pool.reset();
      return [fault];
    case "outage":
      // Every connection dies and no new one opens: callers wait, some past acquireTimeout.
      await proxy.refuse(true);
      try {
        proxy.set({ mode: "reset" });
        proxy.set({ mode: "pass" });
        await sleep(between(rand, 300, 1_000));
      } finally {
        await proxy.refuse(false);
      }
      return [fault];
    case "lull": {
      // Idle connections meet their idle limit, health checks and validation, and maybe a
      // fault that outlasts the lull, so that a validation or a check meets it.
      const inner = pick(rand, LULL_FAULTS);
      const injected: string[] = [fault];
      let faulting: Promise<string[]> | undefined;
      await pause(async () => {
        await sleep(between(rand, 300, 900));
        if (inner !== "none") {
          faulting = injectFault(inner, target, rand, pause);
          // Awaited below; a rejection until then is not unhandled.
          faulting.catch(() => {});
        }
        await sleep(between(rand, 50, 300));
      });
      if (faulting !== undefined) injected.push(...await faulting);
      return injected;
    }
  }
}
