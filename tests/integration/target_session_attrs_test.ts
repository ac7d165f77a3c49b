/**
 * `target_session_attrs` in every driver, against a real primary and hot
 * standby (`../support/replica.ts`): the driver checks the server after
 * logging in and passes over one of the wrong kind, whichever host comes
 * first; and a session opened for writes ends on a read-only error.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Driver } from "../../src/driver.ts";
import { postgresDriver } from "../../src/drivers/postgres/mod.ts";
import { pgDriver } from "../../src/drivers/pg/mod.ts";
import { bunDriver } from "../../src/drivers/bun/mod.ts";
import { ON_BUN } from "../support/bun_driver_env.ts";
import { type ReplicaSet, startReplicaSet } from "../support/replica.ts";

// Started here rather than in before(): Bun gives hooks 5 s.
const servers: ReplicaSet = await startReplicaSet();
const TEST = { timeout: 30_000 };

/** Both servers in one URL, the standby first, with `target_session_attrs` set to `attrs`. */
function url(attrs: string): string {
  const { primary, replica } = servers;
  return `postgres://postgres@127.0.0.1:${replica.port},127.0.0.1:${primary.port}/postgres` +
    `?target_session_attrs=${attrs}`;
}

const DRIVERS: [string, (url: string) => Driver, string | undefined][] = [
  ["postgres.js", (text) => postgresDriver(text), undefined],
  ["pg", (text) => pgDriver(text), undefined],
  ["Bun.SQL", (text) => bunDriver(text), ON_BUN ? undefined : "Bun.SQL needs Bun"],
];

async function standby(driver: Driver): Promise<boolean> {
  const connection = await driver.connect(AbortSignal.timeout(10_000));
  try {
    const { rows } = await connection.query("select pg_is_in_recovery() as r", []);
    return rows[0].r as boolean;
  } finally {
    await connection.close();
  }
}

describe("target_session_attrs against a primary and a hot standby", () => {
  after(() => servers.stop());

  for (const [name, make, skip] of DRIVERS) {
    const title = (text: string) => `${name}: ${text}${skip ? ` (skipped: ${skip})` : ""}`;

    it(
      title("read-write and primary pass over the standby listed first"),
      { ...TEST, skip },
      async () => {
        assert.equal(await standby(make(url("read-write"))), false);
        assert.equal(await standby(make(url("primary"))), false);
        assert.equal(await standby(make(url("any"))), true, "any takes the first host");
      },
    );

    it(title("standby and prefer-standby reach the standby"), { ...TEST, skip }, async () => {
      assert.equal(await standby(make(url("standby"))), true);
      assert.equal(await standby(make(url("prefer-standby"))), true);
    });

    it(
      title("rejects, naming the setting, when no listed server is of the kind asked for"),
      { ...TEST, skip },
      async () => {
        const onlyStandby = `postgres://postgres@127.0.0.1:${servers.replica.port}/postgres` +
          "?target_session_attrs=read-write";
        await assert.rejects(
          make(onlyStandby).connect(AbortSignal.timeout(10_000)),
          /no server among 127\.0\.0\.1:\d+ is writable \(target_session_attrs "read-write"\)/,
        );
      },
    );

    it(
      title("a session opened for writes closes on a read-only error; one opened for any does not"),
      { ...TEST, skip },
      async () => {
        for (const [attrs, closes] of [["read-write", true], ["any", false]] as const) {
          const primaryOnly = `postgres://postgres@127.0.0.1:${servers.primary.port}/postgres` +
            `?target_session_attrs=${attrs}`;
          const connection = await make(primaryOnly).connect(AbortSignal.timeout(10_000));
          try {
            await connection.query("begin read only", []);
            await assert.rejects(
              connection.query("create temporary table t (n int)", []),
              (error: { code?: string }) => error.code === "25006",
            );
            assert.equal(connection.closed, closes, attrs);
          } finally {
            await connection.close();
          }
        }
      },
    );
  }
});
