import { test } from "node:test";
import * as assert from "node:assert/strict";
import { FindingRow, findingContext, findingDescription, groupFindings, verdictBadge } from "../logic/findings";

function row(overrides: Partial<FindingRow>): FindingRow {
  return {
    fingerprint: "fp", path: "app.py", line: 2, character: 4, severity: "error", category: "bug", title: "t",
    runId: "20261202-010000-aaaaaa", workflow: "audit", state: "new", confirmed: 2, verdicts: 2, costUsd: 0.0031,
    hasFix: true, ...overrides,
  };
}

const rows = [
  row({ fingerprint: "a", title: "Division by zero", severity: "error" }),
  row({ fingerprint: "b", title: "Leak", severity: "warning", line: 6, hasFix: false }),
  row({ fingerprint: "c", title: "join fails", severity: "info", path: "lib/more.py", line: 1, category: "style",
        runId: "20261202-020000-bbbbbb" }),
  row({ fingerprint: "d", title: "Dismissed one", severity: "error", state: "dismissed" }),
  row({ fingerprint: "e", title: "Fixed one", severity: "warning", state: "fixed" }),
];

test("groups by severity in severity order, new findings only by default", () => {
  const groups = groupFindings(rows, "severity", "new");
  assert.deepEqual(groups.map((g) => g.label), ["error (1)", "warning (1)", "info (1)"]);
  assert.deepEqual(groups[0].rows.map((r) => r.fingerprint), ["a"]);
});

test("groups by file, category and run (newest run first)", () => {
  assert.deepEqual(groupFindings(rows, "file", "new").map((g) => g.key), ["app.py", "lib/more.py"]);
  assert.deepEqual(groupFindings(rows, "category", "new").map((g) => g.key), ["bug", "style"]);
  assert.deepEqual(groupFindings(rows, "run", "new").map((g) => g.key), ["20261202-020000-bbbbbb", "20261202-010000-aaaaaa"]);
});

test("filters by review state", () => {
  assert.deepEqual(groupFindings(rows, "file", "dismissed").flatMap((g) => g.rows.map((r) => r.fingerprint)), ["d"]);
  assert.deepEqual(groupFindings(rows, "file", "fixed").flatMap((g) => g.rows.map((r) => r.fingerprint)), ["e"]);
  assert.equal(groupFindings(rows, "file", "all").flatMap((g) => g.rows).length, 5);
});

test("verdict badges, descriptions and menu contexts", () => {
  assert.equal(verdictBadge(rows[0]), "2/2 ✓");
  assert.equal(verdictBadge(row({ confirmed: 1, verdicts: 3 })), "1/3");
  assert.equal(verdictBadge(row({ verdicts: 0, confirmed: 0 })), "unverified");
  assert.equal(findingDescription(rows[0], "severity"), "2/2 ✓ · app.py:3 · $0.0031");
  assert.equal(findingDescription(rows[3], "file"), "2/2 ✓ · line 3 · dismissed · $0.0031");
  assert.equal(findingContext(rows[0]), "refute.finding.new.fixable");
  assert.equal(findingContext(rows[1]), "refute.finding.new");
  assert.equal(findingContext(rows[4]), "refute.finding.fixed");
});
