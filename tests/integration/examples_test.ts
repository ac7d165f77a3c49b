/**
 * The example servers run: each is spawned as a child process of the same
 * runtime against a real PostgreSQL, driven over HTTP on 127.0.0.1, and shut
 * down with SIGTERM. The server for the other runtime is skipped.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { admin, freePort, startPostgres, type TestPostgres, waitFor } from "../support/postgres.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const db = admin(server.url);
const isDeno = "Deno" in globalThis;
const APP = `x-pool-example-${process.pid}`;
const START_DEADLINE_MS = 20_000;
const EXIT_DEADLINE_MS = 15_000;
const REQUEST_TIMEOUT_MS = 10_000;
const ITEMS = 50;
const CONCURRENCY = 10;

interface Running {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<number | null>;
}

function spawnExample(file: string, env: Record<string, string | undefined>): Running {
  const path = new URL(`../../examples/${file}`, import.meta.url).pathname;
  const { DATABASE_URL: _, PORT: __, ...rest } = process.env;
  const child = spawn(process.execPath, isDeno ? ["run", "-A", path] : [path], {
    env: { ...rest, ...env, NO_COLOR: "1" } as Record<string, string>,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (chunk) => output += chunk);
  child.stderr!.on("data", (chunk) => output += chunk);
  const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
  return { child, base: "", output: () => output, exited };
}

/** Resolves with `exited`'s code, or null (after SIGKILL) when it takes longer than `ms`. */
async function exitWithin(running: Running, ms: number): Promise<number | null | "timeout"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"timeout">((resolve) =>
    timer = setTimeout(() => resolve("timeout"), ms)
  );
  const result = await Promise.race([running.exited, late]);
  clearTimeout(timer);
  if (result === "timeout") running.child.kill("SIGKILL");
  return result;
}

async function request(
  base: string,
  path: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: unknown; text: string }> {
  const response = await fetch(base + path, {
    ...init,
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  const json = response.headers.get("content-type")?.startsWith("application/json");
  return {
    status: response.status,
    headers: response.headers,
    body: json ? JSON.parse(text) : undefined,
    text,
  };
}

/** The metrics of the example's pool, as `/metrics.json` serves them. */
async function poolMetrics(base: string): Promise<Record<string, number>> {
  const json = await request(base, "/metrics.json");
  assert.equal(json.status, 200, json.text);
  const [pool] = (json.body as { pools: { name: string; metrics: Record<string, number> }[] })
    .pools;
  assert.equal(pool.name, "items");
  return pool.metrics;
}

const post = (base: string, body: string) =>
  request(base, "/items", {
    method: "POST",
    body,
    headers: { "content-type": "application/json" },
  });

describe("example servers", () => {
  after(async () => {
    await db.query("drop table if exists example_items");
    await db.close();
    await server.stop();
  });

  for (const [file, runtime] of [["deno_server.ts", "Deno"], ["bun_server.ts", "Bun"]] as const) {
    const skip = (runtime === "Deno") !== isDeno && `runs only under ${runtime}`;

    it(`${file} exits 1 with a clear message when DATABASE_URL is unset`, {
      skip,
      timeout: EXIT_DEADLINE_MS + 5_000,
    }, async () => {
      const running = spawnExample(file, {});
      const code = await exitWithin(running, EXIT_DEADLINE_MS);
      assert.equal(code, 1, running.output());
      assert.match(running.output(), /DATABASE_URL is not set/);
    });

    it(`${file} serves items and metrics, then shuts down cleanly on SIGTERM`, {
      skip,
      timeout: 60_000,
    }, async () => {
      await db.query("drop table if exists example_items");
      const url = new URL(server.url);
      url.searchParams.set("application_name", APP);
      const running = spawnExample(file, {
        DATABASE_URL: url.href,
        PORT: String(await freePort()),
      });
      try {
        let base = "";
        await waitFor("the listening line", () => {
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(running.output());
          if (running.child.exitCode !== null) {
            throw new Error(
              `exited ${running.child.exitCode} before listening:\n${running.output()}`,
            );
          }
          base = match?.[1] ?? "";
          return base !== "";
        }, START_DEADLINE_MS);
        const before = await poolMetrics(base); // after the table was created
        let queries = 0;

        // Writes, CONCURRENCY at a time.
        const created: { id: number; name: string; createdAt: string }[] = [];
        for (let wave = 0; wave < ITEMS / CONCURRENCY; wave++) {
          const responses = await Promise.all(
            Array.from({ length: CONCURRENCY }, (_, i) => {
              const name = `item ${wave * CONCURRENCY + i} ü "quoted" '; drop table x; --`;
              return post(base, JSON.stringify({ name })).then((r) => ({ name, ...r }));
            }),
          );
          for (const { name, status, headers, body, text } of responses) {
            assert.equal(status, 201, text);
            const item = body as { id: number; name: string; createdAt: string };
            assert.equal(item.name, name);
            assert.ok(Number.isInteger(item.id) && item.id > 0, text);
            assert.ok(!Number.isNaN(Date.parse(item.createdAt)), text);
            assert.equal(headers.get("location"), `/items/${item.id}`);
            created.push(item);
          }
          queries += CONCURRENCY;
        }
        assert.equal(new Set(created.map((item) => item.id)).size, ITEMS);

        // Reads of each item, all at once.
        const reads = await Promise.all(created.map((item) => request(base, `/items/${item.id}`)));
        reads.forEach(({ status, body, text }, i) => {
          assert.equal(status, 200, text);
          assert.deepEqual(body, created[i]);
        });
        queries += ITEMS;

        const list = await request(base, "/items");
        assert.equal(list.status, 200, list.text);
        const listed = (list.body as { items: { id: number }[] }).items;
        assert.deepEqual(listed, [...created].sort((a, b) => a.id - b.id));
        queries += 1;

        const missing = await request(base, "/items/2147483647");
        assert.equal(missing.status, 404, missing.text);
        assert.match((missing.body as { error: string }).error, /No item/);
        queries += 1;

        // Bad input and unknown routes: JSON errors, no queries.
        for (
          const [status, response] of [
            [400, await post(base, "{not json")],
            [400, await post(base, "null")],
            [400, await post(base, JSON.stringify({ name: "" }))],
            [400, await post(base, JSON.stringify({ name: 42 }))],
            [400, await post(base, JSON.stringify({ name: "x".repeat(201) }))],
            [400, await request(base, "/items/abc")],
            [400, await request(base, "/items/0")],
            [400, await request(base, "/items/99999999999")],
            [404, await request(base, "/nowhere")],
            [404, await request(base, "/items/1/more")],
            [405, await request(base, "/items", { method: "DELETE" })],
          ] as const
        ) {
          assert.equal(response.status, status, response.text);
          assert.equal(
            typeof (response.body as { error?: unknown })?.error,
            "string",
            response.text,
          );
        }

        // Every query the API ran through Kysely took a connection from the pool.
        const metrics = await poolMetrics(base);
        assert.equal(metrics.acquireCount - before.acquireCount, queries);
        assert.ok(metrics.openConnections > 0);
        assert.equal(metrics.inUse, 0);
        assert.equal(metrics.waiting, 0);

        const text = await request(base, "/metrics");
        assert.equal(text.status, 200);
        assert.match(text.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
        assert.ok(text.text.includes('xpool_acquires_total{pool="items"}'), text.text);

        assert.ok((await db.backends(APP)).length > 0, "the example's connections carry its name");
        // Not child.kill(): Deno's node:child_process then reports the signal, not the exit code.
        process.kill(running.child.pid!, "SIGTERM");
        const code = await exitWithin(running, EXIT_DEADLINE_MS);
        assert.notEqual(code, "timeout", `still running ${EXIT_DEADLINE_MS} ms after SIGTERM`);
        assert.equal(code, 0, running.output());
        assert.match(running.output(), /SIGTERM: shutting down\n[^]*closed/);
        // The server notices a closed socket a moment after the client does.
        await waitFor(
          "the example's backends to go",
          async () => (await db.backends(APP)).length === 0,
        );
      } finally {
        if (running.child.exitCode === null && running.child.signalCode === null) {
          running.child.kill("SIGKILL");
          await exitWithin(running, 5_000);
        }
      }
    });
  }
});
