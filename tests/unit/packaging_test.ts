/**
 * The package's entry points agree between JSR (`deno.json`) and npm-style
 * consumers such as Bun (`package.json`), and each one loads.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

async function exportsOf(file: string): Promise<Record<string, string>> {
  const text = await readFile(new URL(`../../${file}`, import.meta.url), "utf8");
  return JSON.parse(text).exports;
}

describe("the package's entry points", () => {
  it("are the same subpaths and files in deno.json and package.json", async () => {
    assert.deepEqual(await exportsOf("package.json"), await exportsOf("deno.json"));
  });

  it("each load, with named exports only", async () => {
    const exports = await exportsOf("deno.json");
    assert.ok(
      Object.keys(exports).length >= 7,
      "the root, both drivers, the cluster, metrics, otel and drizzle",
    );
    for (const [subpath, file] of Object.entries(exports)) {
      const module = await import(new URL(`../../${file}`, import.meta.url).href);
      const names = Object.keys(module);
      assert.ok(names.length > 0, `${subpath} exports something`);
      assert.ok(!names.includes("default"), `${subpath} has no default export`);
    }
  });

  it("leave drizzle-orm out of every module the root loads", async () => {
    const seen = new Set<string>();
    const pending = [new URL("../../mod.ts", import.meta.url)];
    for (let url = pending.pop(); url !== undefined && seen.size < 500; url = pending.pop()) {
      if (seen.has(url.href)) continue;
      seen.add(url.href);
      const text = await readFile(url, "utf8");
      for (const [, specifier] of text.matchAll(/^(?:import|export)\b[^;]*?from "([^"]+)"/gms)) {
        assert.ok(!specifier.startsWith("drizzle-orm"), `${url.pathname} imports ${specifier}`);
        if (specifier.startsWith(".")) pending.push(new URL(specifier, url));
      }
    }
    assert.ok(seen.size > 10, `followed the root's imports (${seen.size} modules)`);
  });
});
