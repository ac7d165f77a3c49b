/**
 * What the benchmarks need from the runtime, the same under Deno and Bun:
 * a nanosecond clock, a forced GC, heap size, CPU time, and facts about the
 * machine and the libraries.
 *
 * @module
 */

import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import process from "node:process";

/** The part of Bun's global the benchmarks use. */
export interface BunGlobal {
  version: string;
  nanoseconds(): number;
  gc(force: boolean): void;
  SQL: new (url: string, options?: { max?: number }) => BunSql;
}

/** The part of a `Bun.SQL` client the benchmarks use. */
export interface BunSql {
  (strings: TemplateStringsArray, ...values: unknown[]): Promise<unknown>;
  unsafe(text: string, params?: unknown[]): Promise<unknown>;
  reserve(): Promise<BunSql & { release(): void }>;
  close(): Promise<void>;
}

/** `Bun` under Bun, undefined under Deno. */
export const bun: BunGlobal | undefined = (globalThis as { Bun?: BunGlobal }).Bun;

/** `"bun"` or `"deno"`. */
export const runtime: "bun" | "deno" = bun ? "bun" : "deno";

/** True for a short run that checks the benchmarks work and measures nothing worth keeping. */
export const smoke: boolean = process.env.BENCH_SMOKE === "1" || process.argv.includes("--smoke");

/** A monotonic time stamp in nanoseconds. */
export const now: () => number = bun ? bun.nanoseconds : () => performance.now() * 1e6;

/** Sleeps `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

const v8gc = (globalThis as { gc?: () => void }).gc;

/** Forces a full collection; throws when the runtime does not allow it. */
export function gc(): void {
  if (bun) return bun.gc(true);
  if (v8gc === undefined) throw new Error("Cannot force GC: run Deno with --v8-flags=--expose-gc");
  v8gc();
  v8gc();
}

let jscHeapSize: (() => number) | undefined;
if (bun) {
  const jsc = "bun:jsc"; // A variable, so Deno's type check does not look for it.
  jscHeapSize = (await import(jsc)).heapSize;
}

/**
 * True when {@linkcode heapUsed} grows with every allocation (V8). JSC only
 * updates its heap size at a collection, so under Bun it cannot count bytes
 * allocated between two collections.
 */
export const heapCountsAllocations: boolean = !bun;

/** Bytes of live JavaScript heap (Bun's `heapUsed` reports the heap's capacity, not its use). */
export function heapUsed(): number {
  return jscHeapSize ? jscHeapSize() : process.memoryUsage().heapUsed;
}

/** CPU time this process has used, user plus system, in milliseconds. */
export function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1_000;
}

/** Busy and total jiffies of the whole machine from /proc/stat (every core, every process). */
export function machineCpu(): { busy: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = fields[3] + (fields[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/** Measures CPU use over a span: call the returned function at its end. */
export function cpuMeter(): () => { processPercent: number; machinePercent: number } {
  const start = now();
  const process0 = processCpuMs();
  const machine0 = machineCpu();
  return () => {
    const wallMs = (now() - start) / 1e6;
    const machine1 = machineCpu();
    const total = machine1.total - machine0.total;
    return {
      // Of one core: 100 means one core busy the whole time.
      processPercent: ((processCpuMs() - process0) / wallMs) * 100,
      // Of the whole machine: 100 means every core busy.
      machinePercent: total > 0 ? ((machine1.busy - machine0.busy) / total) * 100 : NaN,
    };
  };
}

/** The runtime, its engine, and the versions of the libraries measured. */
export function versions(): Record<string, string> {
  const v = process.versions as Record<string, string | undefined>;
  const result: Record<string, string> = bun
    ? { runtime: `Bun ${bun.version}`, engine: `JavaScriptCore (WebKit ${v.webkit?.slice(0, 12)})` }
    : { runtime: `Deno ${v.deno}`, engine: `V8 ${v.v8}` };
  for (const name of ["postgres", "pg", "pg-pool", "generic-pool", "tarn", "mitata"]) {
    result[name] = packageVersion(name);
  }
  return result;
}

/** The version of an installed npm package, or "missing". */
export function packageVersion(name: string): string {
  try {
    const url = new URL(`../node_modules/${name}/package.json`, import.meta.url);
    return JSON.parse(readFileSync(url, "utf8")).version;
  } catch {
    return "missing";
  }
}

/** The machine: CPU model and core count. */
export function machine(): { cpu: string; cores: number; os: string } {
  let cpu = "unknown";
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n")
      .find((l) => l.startsWith("model name"));
    if (line) cpu = line.split(":")[1].trim();
  } catch {
    // Not Linux: leave it unknown.
  }
  return { cpu, cores: availableParallelism(), os: `${process.platform} ${process.arch}` };
}
