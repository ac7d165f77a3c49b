// Counts the tests of one runtime, run as one or more invocations of its test
// runner: prints "PASSED FAILED SKIPPED" on stdout, summed over the runs, and
// how it counted on stderr.
//
//   node .ci/count.mjs deno RUN...
//   node .ci/count.mjs bun RUN...
//
// Each RUN is a path prefix: RUN.rc holds the runner's exit code, RUN.log its
// output, and (Deno) RUN.xml its JUnit report.
//
// Deno: leaf test cases of its JUnit report. Deno runs each `describe` as a
// test and each nested `describe`/`it` as a step, and reports all of them as
// test cases named "outer > inner > leaf"; a case is a leaf when no other
// case's name extends it with " > ". A `describe` that failed for another
// reason than its failed steps (a hook threw) counts as one failure. The
// total is checked against Deno's own summary line (tests plus steps).
//
// Bun: its own summary ("N pass", "N fail", "N skip", "N todo", "N error"),
// which counts leaf tests only. Its JUnit report is not used: it leaves out
// files that failed to load and errors thrown by hooks, which the summary
// counts ("error"). The total is checked against "Ran N tests".
//
// Either way, a run that exited non-zero with no failure counted (a file did
// not type-check or load, the runner crashed or was killed) counts as one
// failure, and so does a count that disagrees with the runtime's summary.
//
// It also lists what was skipped, on stderr: the reasons given in test or
// suite titles ("(skipped: REASON)"), with how many tests each covers, and
// the names of skipped tests whose titles give none. A skip that
// .ci/expected-skips.json does not list for the runtime counts as a failure,
// so a suite that stops running is noticed.

import { existsSync, readFileSync } from "node:fs";

const [runtime, ...runs] = process.argv.slice(2);
if (!["deno", "bun"].includes(runtime) || runs.length === 0) usage();
const total = { passed: 0, failed: 0, skipped: 0, skippedNames: [] };
const report = [];
for (const run of runs) {
  const exitArg = readIfExists(`${run}.rc`).trim();
  const exitCode = exitArg === "" ? NaN : Number(exitArg);
  // deno-lint-ignore no-control-regex
  const log = readIfExists(`${run}.log`).replace(/\x1b\[[0-9;]*m/g, "");
  const notes = [];
  const counts = runtime === "deno"
    ? countDeno(log, readIfExists(`${run}.xml`), notes)
    : countBun(log, notes);
  if (exitCode !== 0 && counts.failed === 0) {
    counts.failed = 1;
    notes.push(`exited with ${exitArg || "no exit code"} and no failed test: counted as 1 failure`);
  }
  for (const key of ["passed", "failed", "skipped"]) total[key] += counts[key];
  total.skippedNames.push(...counts.skippedNames);
  report.push(
    `  ${run.split("/").at(-1)}: ${counts.passed} passed, ${counts.failed} failed, ` +
      `${counts.skipped} skipped` + notes.map((note) => `\n    ${note}`).join(""),
  );
}
const unexpected = checkSkips(total.skippedNames, report);
total.failed += unexpected;
console.error(
  `${runtime}: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped\n` +
    report.join("\n") + skipReport(total.skippedNames),
);
console.log(`${total.passed} ${total.failed} ${total.skipped}`);

/**
 * Matches the skipped tests against the runtime's list in
 * .ci/expected-skips.json; returns how many it does not cover, each noted.
 */
function checkSkips(names, report) {
  const entries =
    JSON.parse(readFileSync(new URL("expected-skips.json", import.meta.url)))[runtime];
  const used = entries.map(() => 0);
  const unlisted = [];
  for (const name of names) {
    const reason = reasonOf(name);
    const index = entries.findIndex((entry, i) =>
      used[i] < entry.count &&
      (entry.reason !== undefined ? entry.reason === reason : name.includes(entry.name))
    );
    if (index === -1) unlisted.push(name);
    else used[index]++;
  }
  entries.forEach((entry, i) => {
    if (used[i] < entry.count) {
      report.push(
        `  fewer skips than expected (good news; lower its count in .ci/expected-skips.json): ` +
          `${used[i]} of ${entry.count} for ${JSON.stringify(entry.reason ?? entry.name)}`,
      );
    }
  });
  for (const name of unlisted) {
    report.push(
      `  UNEXPECTED SKIP, counted as a failure (not in .ci/expected-skips.json): ${name}`,
    );
  }
  return unlisted.length;
}

function countDeno(log, xml, notes) {
  const counts = { passed: 0, failed: 0, skipped: 0, skippedNames: [] };
  if (xml === "") {
    notes.push("no JUnit report: no test ran");
    return counts;
  }
  const cases = parseJunit(xml);
  const parents = new Set();
  for (const { name } of cases) {
    const parts = name.split(" > ");
    for (let i = 1; i < parts.length; i++) parents.add(parts.slice(0, i).join(" > "));
  }
  let groups = 0;
  for (const testCase of cases) {
    if (!parents.has(testCase.name)) {
      counts[testCase.status]++;
      if (testCase.status === "skipped") counts.skippedNames.push(testCase.name);
      continue;
    }
    groups++;
    if (testCase.status === "failed" && !/^\d+ test steps? failed/.test(testCase.message)) {
      counts.failed++;
      notes.push(`"${testCase.name}" failed outside its tests: ${testCase.message}`);
    }
  }
  notes.push(`JUnit: ${cases.length} cases, of which ${groups} describe blocks`);
  const summary = log.match(/^(?:ok|FAILED) \|.*$/gm)?.at(-1);
  if (summary === undefined) {
    notes.push("no summary line from deno test");
    return counts;
  }
  let total = 0;
  for (
    const [, tests, , steps] of summary.matchAll(
      /(\d+) (passed|failed|ignored)(?: \((\d+) steps?\))?/g,
    )
  ) {
    total += Number(tests) + Number(steps ?? 0);
  }
  if (total !== cases.length) {
    counts.failed++;
    notes.push(
      `count check failed: the summary has ${total} tests and steps, the report ${cases.length}`,
    );
  } else {
    notes.push(`count check: the summary's ${total} tests and steps match the report`);
  }
  return counts;
}

function countBun(log, notes) {
  const end = [...log.matchAll(/^Ran \d+ tests? across/gm)].at(-1)?.index;
  if (end === undefined) {
    notes.push("no summary from bun test");
    return { passed: 0, failed: 0, skipped: 0, skippedNames: [] };
  }
  const tail = log.slice(log.lastIndexOf("\n\n", end) + 1, end);
  const n = (word) => Number(tail.match(new RegExp(`^\\s*(\\d+) ${word}$`, "m"))?.[1] ?? 0);
  const [pass, fail, skip, todo, errors] = ["pass", "fail", "skip", "todo", "errors?"].map(n);
  const ran = Number(log.slice(end).match(/^Ran (\d+)/)[1]);
  if (errors > 0) {
    notes.push(
      `${errors} errors outside tests (hooks, files that failed to load) counted as failures`,
    );
  }
  const counts = {
    passed: pass,
    failed: fail + errors,
    skipped: skip + todo,
    // Bun lists each skipped test twice: as it runs, and again before its summary.
    skippedNames: [...new Set([...log.matchAll(/^\((?:skip|todo)\) (.*)$/gm)].map((m) => m[1]))],
  };
  if (pass + fail + skip + todo !== ran) {
    counts.failed++;
    notes.push(`count check failed: ${pass + fail + skip + todo} counted, "Ran ${ran} tests"`);
  } else {
    notes.push(`count check: matches "Ran ${ran} tests"`);
  }
  return counts;
}

/** The skipped tests, by the reason their titles give; the names of those without one. */
function skipReport(names) {
  if (names.length === 0) return "";
  const byReason = new Map();
  const unexplained = [];
  for (const name of names) {
    const reason = reasonOf(name);
    if (reason === undefined) unexplained.push(name);
    else byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
  }
  const lines = [...byReason].map(([reason, n]) => `\n  skipped ${n}: ${reason}`);
  const shown = unexplained.slice(0, 20).map((name) =>
    `\n  skipped, no reason in its title: ${name}`
  );
  if (unexplained.length > 20) shown.push(`\n  ... and ${unexplained.length - 20} more`);
  return lines.join("") + shown.join("");
}

/** The reason a test's title (or its suite's) gives for its skip, if any. */
function reasonOf(name) {
  return [...name.matchAll(/\(skipped: ([^)]*)\)/g)].at(-1)?.[1];
}

/** The test cases of a JUnit report: name, status and failure message. */
function parseJunit(xml) {
  const cases = [];
  let open;
  const tags = /<testcase\b([^>]*?)(\/?)>|<\/testcase>|<(failure|error|skipped)\b([^>]*?)\/?>/g;
  for (const [tag, caseAttributes, selfClosing, child, childAttributes] of xml.matchAll(tags)) {
    if (caseAttributes !== undefined) {
      const testCase = { name: attribute(caseAttributes, "name"), status: "passed", message: "" };
      cases.push(testCase);
      open = selfClosing ? undefined : testCase;
    } else if (tag === "</testcase>") {
      open = undefined;
    } else if (open && child === "skipped") {
      open.status = "skipped";
    } else if (open) {
      open.status = "failed";
      open.message = attribute(childAttributes, "message");
    }
  }
  return cases;
}

function attribute(attributes, name) {
  const value = attributes.match(new RegExp(`\\b${name}="([^"]*)"`))?.[1] ?? "";
  return value.replace(
    /&(#x?[0-9a-f]+|[a-z]+);/gi,
    (entity, code) =>
      code[0] === "#"
        ? String.fromCodePoint(Number(code[1] === "x" ? `0${code.slice(1)}` : code.slice(1)))
        : { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" }[code] ?? entity,
  );
}

function readIfExists(path) {
  return path && existsSync(path) ? readFileSync(path, "utf8") : "";
}

function usage() {
  console.error(
    "usage: node .ci/count.mjs deno|bun RUN... (RUN.rc, RUN.log and, for Deno, RUN.xml)",
  );
  process.exit(2);
}
