/**
 * After close(), nothing of the pool keeps the process alive: no timer, no
 * socket, no pending promise. Checked in a child process of the same runtime.
 */

import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import process from "node:process";
import { startPostgres, type TestPostgres } from "../support/postgres.ts";

// Started here rather than in before(): Bun gives hooks 5 s, and a cold start can take longer.
const server: TestPostgres = await startPostgres();
const fixture = new URL("./fixtures/use_and_close.ts", import.meta.url).pathname;
/** Far longer than the fixture needs; a child still running then is a leak. */
const EXIT_DEADLINE_MS = 30_000;

interface Exit {
  code: number | null;
  output: string;
  timedOut: boolean;
}

function runFixture(): Promise<Exit> {
  const isDeno = "Deno" in globalThis;
  const args = isDeno ? ["run", "-A", fixture] : [fixture];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, DATABASE_URL: server.url, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => output += chunk);
  child.stderr.on("data", (chunk) => output += chunk);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve({ code: null, output, timedOut: true });
    }, EXIT_DEADLINE_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut: false });
    });
  });
}

describe("process exit", () => {
  after(() => server.stop());

  it("exits by itself once the pool is closed", async () => {
    const exit = await runFixture();
    assert.equal(exit.timedOut, false, `the process was still running:\n${exit.output}`);
    assert.equal(exit.code, 0, exit.output);
    assert.match(exit.output, /closed/);
  });
});
