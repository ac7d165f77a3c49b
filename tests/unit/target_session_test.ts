import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  connectToTarget,
  type SessionState,
  type TargetSessionAttrs,
} from "../../src/drivers/_shared/target_session.ts";

const PRIMARY: SessionState = { in_recovery: "false", read_only: "off" };
const STANDBY: SessionState = { in_recovery: "true", read_only: "on" };
/** A primary whose role or database defaults to read-only transactions. */
const READ_ONLY_PRIMARY: SessionState = { in_recovery: "false", read_only: "on" };

interface Opened {
  host: string;
  closed: boolean;
  close(): Promise<void>;
}

/** Connects over hosts whose servers are in `states` (an Error for one that cannot be reached). */
async function walk(attrs: TargetSessionAttrs, states: (SessionState | Error)[]) {
  const hosts = states.map((_, i) => ({ host: `h${i}`, port: 5432 }));
  const opened: Opened[] = [];
  const checks: boolean[] = [];
  const result = await connectToTarget(hosts, attrs, (host, check) => {
    checks.push(check);
    const state = states[Number(host.host.slice(1))];
    if (state instanceof Error) return Promise.reject(state);
    const connection: Opened = {
      host: host.host,
      closed: false,
      close() {
        this.closed = true;
        return Promise.resolve();
      },
    };
    opened.push(connection);
    return Promise.resolve({ connection, state: check ? state : undefined });
  }, new AbortController().signal).catch((error: Error) => error);
  return { result, opened, checks };
}

describe("connectToTarget, libpq's target_session_attrs over several hosts", () => {
  it("passes over a hot standby for read-write, closing it, and takes the primary after it", async () => {
    const { result, opened, checks } = await walk("read-write", [STANDBY, PRIMARY]);
    assert.equal((result as Opened).host, "h1");
    assert.deepEqual(opened.map((each) => each.closed), [true, false]);
    assert.deepEqual(checks, [true, true]);
  });

  it("tells primary from read-write: a read-only default fits primary only", async () => {
    assert.equal(((await walk("primary", [READ_ONLY_PRIMARY])).result as Opened).host, "h0");
    const { result } = await walk("read-write", [READ_ONLY_PRIMARY]);
    assert.match((result as Error).message, /no server among h0:5432 is writable/);
  });

  it("moves on past a host it cannot reach", async () => {
    const { result } = await walk("primary", [new Error("refused"), PRIMARY]);
    assert.equal((result as Opened).host, "h1");
  });

  it("rejects with the last connect error when no host could be reached", async () => {
    const last = Object.assign(new Error("bad password"), { code: "28P01" });
    const { result } = await walk("read-write", [new Error("refused"), last]);
    assert.equal(result, last);
  });

  it("rejects naming the setting, without a SQLSTATE, when every server is of the wrong kind", async () => {
    const { result, opened } = await walk("primary", [STANDBY, STANDBY]);
    assert.ok(result instanceof Error);
    assert.equal((result as Error & { code?: string }).code, undefined);
    assert.match(result.message, /target_session_attrs "primary"/);
    assert.ok(opened.every((each) => each.closed));
  });

  it("prefer-standby takes a standby first, and any server when there is none", async () => {
    assert.equal(((await walk("prefer-standby", [PRIMARY, STANDBY])).result as Opened).host, "h1");
    const { result, checks } = await walk("prefer-standby", [PRIMARY]);
    assert.equal((result as Opened).host, "h0");
    assert.deepEqual(checks, [true, false], "the second pass makes no check");
  });

  it("standby and read-only refuse a primary", async () => {
    assert.ok((await walk("standby", [PRIMARY])).result instanceof Error);
    assert.ok((await walk("read-only", [PRIMARY])).result instanceof Error);
    assert.equal(((await walk("read-only", [READ_ONLY_PRIMARY])).result as Opened).host, "h0");
  });
});
