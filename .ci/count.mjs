// Counts the tests of one runtime's run: prints "PASSED FAILED SKIPPED" on
// stdout and how it counted on stderr.
//
//   node .ci/count.mjs deno EXIT_CODE LOG JUNIT_XML
//   node .ci/count.mjs bun EXIT_CODE LOG
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
// the names of skipped tests whose titles give none.

import { existsSync, readFileSync } from "node:fs";

const [runtime, exitArg, logPath, junitPath] = process.argv.slice(2);
const exitCode = Number(exitArg);
// deno-lint-ignore no-control-regex
const log = readIfExists(logPath).replace(/\x1b\[[0-9;]*m/g, "");
const notes = [];
const counts = runtime === "deno"
  ? countDeno(log, readIfExists(junitPath))
  : runtime === "bun"
  ? countBun(log)
  : usage();

if (exitCode !== 0 && counts.failed === 0) {
  counts.failed = 1;
  notes.push(`exited with ${exitArg} and no failed test: counted as 1 failure`);
}
console.error(
  `${runtime}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped` +
    notes.map((note) => `\n  ${note}`).join("") + skipReport(counts.skippedNames),
);
console.log(`${counts.passed} ${counts.failed} ${counts.skipped}`);

function countDeno(log, xml) {
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

function countBun(log) {
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
    const reason = [...name.matchAll(/\(skipped: ([^)]*)\)/g)].at(-1)?.[1];
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
  console.error("usage: node .ci/count.mjs deno|bun EXIT_CODE LOG [JUNIT_XML]");
  process.exit(2);
}
