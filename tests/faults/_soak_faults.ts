/**
 * The faults the soak injects while its callers run: through the fault
 * proxy, on the server's backends, or on the pool itself; each bounded in
 * time and healed before the next, and each noted with when it was on, so
 * that a failure can be put down to a fault that can cause it.
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

/**
 * The first faults injected, one of each kind, so that every kind runs
 * whatever the seed; the first lull meets a blackhole, so that health checks
 * and validations time out, and the second none, so that idle connections
 * reach their idle time.
 */
export const COVERAGE: readonly [Fault, (Fault | "none")?][] = [
  ["lull", "blackhole"],
  ["lull", "none"],
  ["reset"],
  ["delay"],
  ["outage"],
  ["terminate"],
  ["refuse"],
  ["poolReset"],
  ["blackhole"],
];

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
  /** Notes that a fault starts now; returns the function that notes its end. */
  note: (fault: Fault) => () => void;
}

/**
 * Injects one fault, bounded in time, and heals it before returning. `pause`
 * holds the callers back during a lull, so connections go idle; `inner` is
 * the fault a lull meets (else drawn at random).
 */
export async function injectFault(
  fault: Fault,
  target: FaultTarget,
  rand: () => number,
  pause: (during: () => Promise<void>) => Promise<void>,
  inner?: Fault | "none",
): Promise<void> {
  const end = target.note(fault);
  try {
    await inject(fault, target, rand, pause, inner);
  } finally {
    end();
  }
}

async function inject(
  fault: Fault,
  target: FaultTarget,
  rand: () => number,
  pause: (during: () => Promise<void>) => Promise<void>,
  inner: Fault | "none" | undefined,
  inLull = false,
): Promise<void> {
  const { pool, proxy, admin, applicationName } = target;
  switch (fault) {
    case "reset":
      proxy.set({ mode: "reset" });
      proxy.set({ mode: "pass" });
      return;
    case "delay": {
      const ms = between(rand, 5, 40);
      proxy.set({ mode: "pass", delay: { up: ms, down: ms } });
      try {
        await sleep(between(rand, 100, 400));
      } finally {
        proxy.set({ mode: "pass" });
      }
      return;
    }
    case "blackhole":
      proxy.set({ mode: "blackhole" });
      try {
        // In a lull, long enough that a check (checkTimeout 300 ms) meets it and times out.
        await sleep(inLull ? between(rand, 400, 800) : between(rand, 50, 600));
      } finally {
        proxy.set({ mode: "pass" });
      }
      return;
    case "refuse":
      await proxy.refuse(true);
      try {
        await sleep(between(rand, 100, 400));
      } finally {
        await proxy.refuse(false);
      }
      return;
    case "terminate": {
      const pids = await admin.backends(applicationName);
      for (const pid of pids) {
        if (rand() < 0.4) await admin.query("select pg_terminate_backend($1)", [pid]);
      }
      return;
    }
    case "poolReset":
      pool.reset();
      return;
    case "outage":
      // Every connection dies and no new one opens: callers wait, those of the first moments
      // past acquireTimeout (1.5 s).
      await proxy.refuse(true);
      try {
        proxy.set({ mode: "reset" });
        proxy.set({ mode: "pass" });
        await sleep(between(rand, 1_600, 1_900));
      } finally {
        await proxy.refuse(false);
      }
      return;
    case "lull": {
      // Idle connections meet their idle limit, health checks and validation, and maybe a
      // fault that outlasts the lull, so that a validation or a check meets it.
      const during = inner ?? pick(rand, LULL_FAULTS);
      let faulting: Promise<void> | undefined;
      await pause(async () => {
        // The coverage lull (its fault given) strikes before the idle connections close
        // (connMaxIdleTime 600 ms), so that health checks meet the fault.
        // A quiet coverage lull outlasts connMaxIdleTime and a sweep (healthInterval 300 ms), so
        // that idle connections are closed for their idle time.
        await sleep(
          inner === undefined
            ? between(rand, 300, 900)
            : inner === "none"
            ? between(rand, 1_100, 1_300)
            : between(rand, 100, 200),
        );
        if (during !== "none") {
          const end = target.note(during);
          faulting = inject(during, target, rand, pause, undefined, true).finally(end);
          // Awaited below; a rejection until then is not unhandled.
          faulting.catch(() => {});
        }
        await sleep(between(rand, 50, 300));
      });
      if (faulting !== undefined) await faulting;
      return;
    }
  }
}
