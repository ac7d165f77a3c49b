/**
 * A page in a real headless Chromium driven by `playwright-core`, and a
 * loopback HTTP server for a web-standard handler, for browser tests under
 * both `deno test` and `bun test`.
 *
 * The browser is the system's (`/usr/bin/chromium`, Debian's `chromium`
 * package) when there is one, else the one the npm package
 * `@sparticuz/chromium` ships compressed, unpacked once to a folder under
 * the temporary directory. `X_POOL_CHROMIUM=npm` (or `system`) picks one,
 * to try the other path.
 *
 * @module
 */

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { lchown, mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { cachedFolder } from "../../examples/_postgres/cache.ts";
import { waitFor } from "./postgres.ts";

/** Where Debian's `chromium` package installs the browser. */
export const SYSTEM_CHROMIUM = "/usr/bin/chromium";
/** The page's size in CSS pixels, and a screenshot's width. */
export const VIEWPORT = { width: 1280, height: 900 };
const STEP_TIMEOUT_MS = 15_000;
const CLOSE_TIMEOUT_MS = 5_000;

/** A handler served on 127.0.0.1. */
export interface Served {
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  /** While false, every request's connection is dropped without an answer. */
  reachable: boolean;
  close(): Promise<void>;
}

/** Serves `handler` on a free loopback port with `node:http`, which both runtimes have. */
export async function serve(handler: (request: Request) => Response): Promise<Served> {
  const http = createServer(async (req, res) => {
    if (!served.reachable) {
      req.socket.destroy();
      return;
    }
    try {
      const response = handler(
        new Request(new URL(req.url ?? "/", "http://127.0.0.1"), { method: req.method }),
      );
      const body = new Uint8Array(await response.arrayBuffer());
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(body);
    } catch (error) {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(String(error));
    }
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(0, "127.0.0.1", resolve);
  });
  const address = http.address();
  assert.ok(address && typeof address === "object", "the server listens");
  const served: Served = {
    origin: `http://127.0.0.1:${address.port}`,
    reachable: true,
    close: () => {
      http.closeAllConnections?.();
      return new Promise((resolve) => http.close(() => resolve()));
    },
  };
  return served;
}

/** An open page and what it did. */
export interface BrowserPage {
  page: Page;
  /** Every URL the page requested, in order. */
  requested: string[];
  /** Uncaught exceptions in the page. */
  pageErrors: string[];
  /** Console errors: CSP violations, failed loads, `console.error`. */
  consoleErrors: string[];
  /** Closes the browser within seconds, killing what is left; then checks none is left. */
  close(): Promise<void>;
}

/** Launches Chromium with a new, empty profile and opens `url` in it. */
export async function openPage(url: string): Promise<BrowserPage> {
  const executablePath = await chromiumPath();
  const userDataDir = await mkdtemp(join(tmpdir(), "x-pool-chromium-"));
  let context: BrowserContext | undefined;
  const close = async () => {
    await shutDown(context, userDataDir);
    await rm(userDataDir, { recursive: true, force: true });
  };
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      timeout: STEP_TIMEOUT_MS,
      viewport: VIEWPORT,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    const opened: BrowserPage = {
      page,
      requested: [],
      pageErrors: [],
      consoleErrors: [],
      close,
    };
    page.on("request", (request) => opened.requested.push(request.url()));
    page.on("pageerror", (error) => opened.pageErrors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") opened.consoleErrors.push(message.text());
    });
    await page.goto(url);
    return opened;
  } catch (error) {
    await close();
    throw error;
  }
}

let npmChromium: Promise<string> | undefined;

/** The browser to launch: see the module doc. */
function chromiumPath(): Promise<string> {
  const choice = process.env.X_POOL_CHROMIUM ?? (existsSync(SYSTEM_CHROMIUM) ? "system" : "npm");
  if (choice === "system") {
    if (existsSync(SYSTEM_CHROMIUM)) return Promise.resolve(SYSTEM_CHROMIUM);
    throw new Error(`Cannot use X_POOL_CHROMIUM=system: there is no ${SYSTEM_CHROMIUM}`);
  }
  if (choice !== "npm") {
    throw new Error(`Cannot use X_POOL_CHROMIUM=${choice}: expected "system" or "npm"`);
  }
  return npmChromium ??= unpackNpmChromium();
}

/**
 * Unpacks `@sparticuz/chromium` (the browser, its fonts and its software GL)
 * once per version and user. The package unpacks to `os.tmpdir()`, read
 * when it starts unpacking: `TMPDIR` points at a staging folder only for
 * that synchronous start, so nothing else in the process sees the change.
 */
async function unpackNpmChromium(): Promise<string> {
  const { default: Chromium } = await import("@sparticuz/chromium");
  const entry = new URL(import.meta.resolve("@sparticuz/chromium"));
  const version = JSON.parse(readFileSync(new URL("../package.json", entry), "utf8")).version;
  const dir = join(tmpdir(), `x-pool-chromium-${version}-${process.getuid?.() ?? "user"}`);
  await cachedFolder(dir, async (staging) => {
    const before = process.env.TMPDIR;
    process.env.TMPDIR = staging;
    let unpacked: Promise<string>;
    try {
      unpacked = Chromium.executablePath();
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
    if ((await unpacked) !== join(staging, "chromium")) {
      throw new Error(`@sparticuz/chromium unpacked to ${await unpacked}, not to ${staging}`);
    }
    // Unpacked by root, the archives' files keep the owners they were packed with.
    if (process.getuid?.() === 0) await ownAll(staging);
  });
  return join(dir, "chromium");
}

async function ownAll(dir: string): Promise<void> {
  await lchown(dir, 0, 0);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await ownAll(join(dir, entry.name));
    else await lchown(join(dir, entry.name), 0, 0);
  }
}

/** The pids of the Chromium processes using `userDataDir` (Linux /proc). */
function chromiumPids(userDataDir: string): number[] {
  if (!existsSync("/proc")) return [];
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const command = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (command.includes(`--user-data-dir=${userDataDir}`)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

async function shutDown(context: BrowserContext | undefined, userDataDir: string): Promise<void> {
  if (context) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      context.close().catch(() => {}),
      new Promise((resolve) => timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)),
    ]);
    clearTimeout(timer);
  }
  for (const pid of chromiumPids(userDataDir)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  await waitFor("Chromium to exit", () => chromiumPids(userDataDir).length === 0, CLOSE_TIMEOUT_MS);
}
