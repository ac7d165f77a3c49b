/**
 * The package's entry points agree between JSR (`deno.json`) and npm-style
 * consumers such as Bun (`package.json`), and each one loads; the root
 * reaches no optional peer dependency, such as `kysely`.
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";

const ROOT = new URL("../../", import.meta.url);

async function exportsOf(file: string): Promise<Record<string, string>> {
  const text = await readFile(new URL(file, ROOT), "utf8");
  return JSON.parse(text).exports;
}

/** The bare specifiers (packages) that `file` reaches through its relative imports. */
async function packagesReachedFrom(file: string): Promise<Set<string>> {
  const packages = new Set<string>();
  const seen = new Set<string>();
  const pending = [new URL(file, ROOT).href];
  while (pending.length > 0 && seen.size < 1_000) {
    const href = pending.pop()!;
    if (seen.has(href)) continue;
    seen.add(href);
    const text = await readFile(new URL(href), "utf8");
    for (const [, specifier] of text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
      if (specifier.startsWith(".")) pending.push(new URL(specifier, href).href);
      else packages.add(specifier);
    }
  }
  return packages;
}

describe("the package's entry points", () => {
  it("are the same subpaths and files in deno.json and package.json", async () => {
    assert.deepEqual(await exportsOf("package.json"), await exportsOf("deno.json"));
  });

  it("do not load an optional peer dependency from the root", async () => {
    const { peerDependencies = {} } = JSON.parse(
      await readFile(new URL("package.json", ROOT), "utf8"),
    );
    const peers = Object.keys(peerDependencies);
    assert.ok(peers.includes("kysely"), "kysely is an optional peer dependency");
    const reached = await packagesReachedFrom("mod.ts");
    assert.ok(reached.has("postgres"), "the walk follows the root's imports");
    assert.deepEqual(peers.filter((peer) => reached.has(peer)), []);
    assert.ok((await packagesReachedFrom("src/kysely/mod.ts")).has("kysely"));
    assert.ok(peers.includes("drizzle-orm"), "drizzle-orm is an optional peer dependency");
    assert.ok((await packagesReachedFrom("src/drizzle/mod.ts")).has("drizzle-orm"));
  });

  it("each load, with named exports only", async () => {
    const exports = await exportsOf("deno.json");
    assert.ok(
      Object.keys(exports).length >= 9,
      "the root, the three drivers, the cluster, metrics, otel, kysely and drizzle",
    );
    for (const [subpath, file] of Object.entries(exports)) {
      const module = await import(new URL(file, ROOT).href);
      const names = Object.keys(module);
      assert.ok(names.length > 0, `${subpath} exports something`);
      assert.ok(!names.includes("default"), `${subpath} has no default export`);
    }
  });
});
