/**
 * The demo, without `DATABASE_URL`, against a temporary directory its
 * throwaway PostgreSQL cannot use: it must exit non-zero within seconds,
 * saying why and what to do in plain words, under the runtime running this
 * test. Run as a child process, with `TMPDIR` pointing at the bad place.
 */

import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

const demo = new URL("../../examples/demo.ts", import.meta.url).pathname;
/** Far longer than failing takes; a child still running then hangs. */
const EXIT_DEADLINE_MS = 20_000;

interface Exit {
  code: number | null;
  output: string;
  timedOut: boolean;
}

function runDemo(tmp: string): Promise<Exit> {
  const isDeno = "Deno" in globalThis;
  const { DATABASE_URL: _, ...env } = process.env;
  const child = spawn(process.execPath, isDeno ? ["run", "-A", demo] : [demo], {
    env: { ...env, TMPDIR: tmp, NO_COLOR: "1" },
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

function assertPlainFailure(exit: Exit, why: RegExp): void {
  assert.equal(exit.timedOut, false, `the demo was still running:\n${exit.output}`);
  assert.notEqual(exit.code, 0, exit.output);
  assert.match(exit.output, /^Cannot start a throwaway PostgreSQL: /m);
  assert.match(exit.output, why);
  assert.match(exit.output, /To fix it: .*set TMPDIR to .*set DATABASE_URL/);
  assert.doesNotMatch(exit.output, /^\s+at /m, "no stack trace buries the reason");
}

describe("the demo's throwaway PostgreSQL failing to start", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "x-pool-startup-failure-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("exits non-zero, saying why, when TMPDIR is a file", async () => {
    const file = join(dir, "a-file");
    await writeFile(file, "");
    assertPlainFailure(await runDemo(file), /temporary directory .*a-file.*not a directory/);
  });

  it("exits non-zero, saying why, when TMPDIR does not exist", async () => {
    assertPlainFailure(await runDemo(join(dir, "missing")), /missing.*does not exist/);
  });

  // Not writable for a user; for root, closed to the user the server runs as.
  it("exits non-zero, saying why, when the server cannot use TMPDIR", async () => {
    const made = await mkdtemp(join(dir, "closed-"));
    await chmod(made, 0o500);
    try {
      assertPlainFailure(await runDemo(made), /closed-\w+.*(not writable|is closed to it)/);
    } finally {
      await chmod(made, 0o700);
    }
  });
});
