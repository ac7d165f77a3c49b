/**
 * The Prometheus alerting rules in docs/alerts/xpool.rules.yml: their shape,
 * and every metric (and label) their expressions name, checked against what
 * the metrics handler really serves at `/metrics`.
 *
 * @module
 */

import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { metricsHandler } from "../../src/metrics/mod.ts";
import { harness } from "../support/pool_helpers.ts";
import { parseYamlSubset, type YamlValue } from "../support/yaml_subset.ts";

const RULES_PATH = fileURLToPath(new URL("../../docs/alerts/xpool.rules.yml", import.meta.url));

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description: string };
}

/** The rules, checked for the shape Prometheus wants. */
function loadRules(): Rule[] {
  const parsed = parseYamlSubset(readFileSync(RULES_PATH, "utf8")) as {
    groups?: { name?: YamlValue; rules?: YamlValue }[];
  };
  assert.ok(Array.isArray(parsed.groups) && parsed.groups.length > 0, "a list of groups");
  const rules: Rule[] = [];
  for (const group of parsed.groups) {
    assert.deepEqual(Object.keys(group).sort(), ["name", "rules"]);
    assert.equal(typeof group.name, "string");
    assert.ok(Array.isArray(group.rules) && group.rules.length > 0, `${group.name} has rules`);
    for (const rule of group.rules as unknown as Rule[]) {
      for (const key of Object.keys(rule)) {
        assert.ok(["alert", "expr", "for", "labels", "annotations"].includes(key), key);
      }
      assert.match(rule.alert, /^Xpool[A-Z][A-Za-z]+$/);
      assert.equal(typeof rule.expr, "string");
      if (rule.for !== undefined) assert.match(rule.for, /^\d+[smh]$/, `${rule.alert} for`);
      assert.ok(["warning", "critical"].includes(rule.labels?.severity), `${rule.alert} severity`);
      assert.ok(rule.annotations?.summary?.includes("{{ $labels.pool }}"), `${rule.alert} summary`);
      assert.ok((rule.annotations?.description ?? "").length > 20, `${rule.alert} description`);
      rules.push(rule);
    }
  }
  return rules;
}

/** Every sample name in a Prometheus text, with the values each label takes. */
function served(text: string): Map<string, Map<string, Set<string>>> {
  const names = new Map<string, Map<string, Set<string>>>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? /.exec(line);
    assert.ok(match, `a sample line: ${line}`);
    const labels = names.get(match[1]) ?? new Map<string, Set<string>>();
    names.set(match[1], labels);
    for (const [, label, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      if (!labels.has(label)) labels.set(label, new Set());
      labels.get(label)!.add(value);
    }
  }
  return names;
}

/** What a pool's handler serves at /metrics. */
async function scrape(): Promise<string> {
  const h = harness({ name: "alerts" });
  const response = metricsHandler(h.pool)(new Request("http://localhost/metrics"));
  const text = await response.text();
  await h.pool.close();
  return text;
}

/** Whether promtool is on the PATH. */
function promtoolMissing(): string | undefined {
  const probe = spawnSync("promtool", ["--version"], { encoding: "utf8" });
  return probe.status === 0 ? undefined : "promtool is not installed";
}

describe("the Prometheus alerting rules", () => {
  it("are a rule group file with a named alert, severity, summary and description per rule", () => {
    const rules = loadRules();
    const names = rules.map((rule) => rule.alert);
    assert.equal(new Set(names).size, names.length, "alert names are distinct");
  });

  it("name only metrics, and label values, that the handler serves at /metrics", async () => {
    const metrics = served(await scrape());
    for (const rule of loadRules()) {
      const used = rule.expr.match(/\bxpool_[a-z0-9_]+/g) ?? [];
      assert.ok(used.length > 0, `${rule.alert} uses a metric of the pool`);
      for (const name of used) {
        assert.ok(metrics.has(name), `${rule.alert}: ${name} is not served`);
      }
      for (const [, name, matchers] of rule.expr.matchAll(/\b(xpool_[a-z0-9_]+)\{([^}]*)\}/g)) {
        for (const [, label, op, value] of matchers.matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
          const values = metrics.get(name)!.get(label);
          assert.ok(values, `${rule.alert}: ${name} has no label ${label}`);
          if (op === "=" || op === "!=") {
            assert.ok(values.has(value), `${rule.alert}: ${name} never has ${label}="${value}"`);
          }
        }
      }
    }
  });

  it("cover the breaker, acquire timeouts, utilization, health checks and leaks", () => {
    const used = new Set(loadRules().flatMap((rule) => rule.expr.match(/\bxpool_[a-z0-9_]+/g)));
    for (
      const name of [
        "xpool_circuit_state",
        "xpool_acquire_timeouts_total",
        "xpool_utilization_ratio",
        "xpool_health_checks_total",
        "xpool_leaks_total",
      ]
    ) assert.ok(used.has(name), `an alert on ${name}`);
  });

  const skip = promtoolMissing();
  it(`pass promtool check rules${skip ? ` (skipped: ${skip})` : ""}`, { skip }, () => {
    const result = spawnSync("promtool", ["check", "rules", RULES_PATH], { encoding: "utf8" });
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });
});

describe("the YAML subset parser", () => {
  it("reads nested maps, lists of maps and the three kinds of scalar", () => {
    const parsed = parseYamlSubset(
      [
        "# a comment",
        "groups:",
        "  - name: a",
        "    rules:",
        "      - alert: 'it''s {{ x }}'",
        '        expr: "up{job=\\"x\\"} == 0"',
        "      - alert: b",
        "  - name: c",
        "    rules:",
        "      - alert: d",
      ].join("\n"),
    );
    assert.deepEqual(parsed, {
      groups: [
        { name: "a", rules: [{ alert: "it's {{ x }}", expr: 'up{job="x"} == 0' }, { alert: "b" }] },
        { name: "c", rules: [{ alert: "d" }] },
      ],
    });
  });

  it("refuses what lies outside the subset, naming the line", () => {
    const cases = [
      "a: {b: 1}",
      "a: [1]",
      "a: |",
      "a: b # comment",
      "a: &x b",
      "a:\n\tb: c",
      "a: 1\na: 2",
      "a:\n  b: 1\n c: 2",
      "a:",
    ];
    for (const source of cases) {
      assert.throws(() => parseYamlSubset(source), /line \d+/, JSON.stringify(source));
    }
  });
});
