import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ArgumentError, askArgs, continueArgs, isEvidencePage, isMarkdownReport, opensAsPreview, auditArgs, migrateArgs, newWorkflowArgs, parseBudget, resumeArgs, runActionCommand, securityArgs, suggestedBudget } from "../logic/commands";
import { actionsFor, isPartial, parseRuns, runPickItems } from "../logic/runs";

test("audit and security runs carry scope and budget", () => {
  assert.deepEqual(auditArgs({ paths: ["src"] }, { tokens: 1000, usd: null }), {
    workflow: "audit", scope: { paths: ["src"] }, budgetTokens: 1000,
  });
  assert.deepEqual(securityArgs({ paths: [] }), { workflow: "security", scope: { paths: [] } });
});

test("migrate and ask need text, trimmed", () => {
  assert.deepEqual(migrateArgs("  use pathlib ", { paths: [] }), {
    workflow: "migrate", scope: { paths: [] }, args: { instruction: "use pathlib" },
  });
  assert.deepEqual(askArgs("where is auth?", { paths: [] }, { usd: 2 }).args, { question: "where is auth?" });
  assert.throws(() => migrateArgs("   ", { paths: [] }), ArgumentError);
  assert.throws(() => askArgs(undefined, { paths: [] }), /question is empty/);
  assert.throws(() => newWorkflowArgs(""), ArgumentError);
  assert.deepEqual(newWorkflowArgs("find N+1 queries"), { request: "find N+1 queries" });
});

test("run actions use the server's command ids and payloads", () => {
  assert.deepEqual(runActionCommand("cancel", "r1"), { command: "refute.cancel", argument: { runId: "r1" } });
  assert.deepEqual(runActionCommand("report", "r1"), { command: "refute.report", argument: { runId: "r1", format: "md" } });
  assert.deepEqual(runActionCommand("applyEdits", "r1"), {
    command: "refute.applyEdits",
    argument: { runId: "r1", preview: true },
  });
  assert.deepEqual(runActionCommand("resume", "r1").command, "refute.resume");
});

test("runs parse from RunInfo dicts, newest first", () => {
  const runs = parseRuns([
    { id: "old", workflow: "audit", status: "completed", created_at: 1, calls_done: 3, cost_usd: 0.5,
      usage: { input_tokens: 100, output_tokens: 20, cache_write_tokens: 0, cache_read_tokens: 5 } },
    { id: "new", workflow: "ask", status: "running", created_at: 2 },
    { workflow: "no id is skipped" },
    "garbage",
  ]);
  assert.deepEqual(runs.map((r) => r.id), ["new", "old"]);
  assert.equal(runs[1].tokens, 125);
  assert.equal(parseRuns({ runs: [{ runId: "x", workflow: "w", status: "queued" }] })[0].id, "x");
  assert.deepEqual(parseRuns(null), []);
  const items = runPickItems(runs);
  assert.equal(items[1].label, "audit — completed");
  assert.equal(items[1].detail, "3 calls · 125 tokens · $0.50");
});

test("actions depend on status", () => {
  assert.deepEqual(actionsFor("running"), ["cancel", "pause", "report"]);
  assert.deepEqual(actionsFor("paused"), ["resume", "cancel", "report"]);
  assert.ok(actionsFor("cancelled").includes("resume"));
  assert.ok(!actionsFor("completed").includes("cancel"));
  assert.ok(actionsFor("completed").includes("applyEdits"));
});

test("only markdown reports under .refute/reports count as reports", () => {
  assert.ok(isMarkdownReport("file:///w/.refute/reports/20261121-1.md"));
  assert.ok(isMarkdownReport(".refute/reports/r.md"));
  assert.ok(isMarkdownReport("C:\\w\\.refute\\reports\\r.md"));
  assert.ok(!isMarkdownReport("file:///w/.refute/reports/r.sarif"));
  assert.ok(!isMarkdownReport("file:///w/docs/readme.md"));
  assert.ok(!isMarkdownReport("file:///w/.refute/reports/sub/r.md"));
});

test("evidence pages and reports open as previews; other markdown does not", () => {
  assert.ok(isEvidencePage("file:///w/.refute/evidence/division-by-zero-96f69be0.md"));
  assert.ok(!isEvidencePage("file:///w/.refute/evidence/sub/x.md"));
  assert.ok(opensAsPreview("file:///w/.refute/reports/r.md"));
  assert.ok(opensAsPreview("file:///w/.refute/evidence/x-1.md"));
  assert.ok(!opensAsPreview("file:///w/app.md"));
});

test("a larger budget is typed as tokens=N usd=X, the same words as :RefuteResume", () => {
  assert.deepEqual(parseBudget("tokens=200000 usd=2.5"), { budgetTokens: 200000, budgetUsd: 2.5 });
  assert.deepEqual(parseBudget(" usd=$3, "), { budgetUsd: 3 });
  assert.deepEqual(parseBudget("TOKENS=1_000_000"), { budgetTokens: 1000000 });
  assert.throws(() => parseBudget(""), /give a larger budget/);
  assert.throws(() => parseBudget("tokens=1.5"), /whole number/);
  assert.throws(() => parseBudget("usd=-1"), /above 0/);
  assert.throws(() => parseBudget("200000"), /not tokens=N or usd=X/);
});

test("the budget box starts at twice the run's limits", () => {
  assert.equal(suggestedBudget({ tokens: 1500, usd: null }, { tokens: 1400 }), "tokens=3000");
  assert.equal(suggestedBudget({ tokens: 1500, usd: 0.5 }, { tokens: 1400 }), "tokens=3000 usd=1.00");
  assert.equal(suggestedBudget({ tokens: null, usd: 0.015 }, { tokens: 900 }), "usd=0.03");
  assert.equal(suggestedBudget({}, { tokens: 900 }), "tokens=1800");
  assert.deepEqual(parseBudget(suggestedBudget({ tokens: 1500, usd: 0.5 }, {})), { budgetTokens: 3000, budgetUsd: 1 });
});

test("resume with a larger budget and continue audit send what the server takes", () => {
  assert.deepEqual(resumeArgs("r1", parseBudget("tokens=9000")), { runId: "r1", budgetTokens: 9000 });
  assert.deepEqual(continueArgs({ id: "r1", workflow: "audit" }, { tokens: 5000, usd: null }), {
    workflow: "audit", continueRun: "r1", budgetTokens: 5000,
  });
  assert.deepEqual(continueArgs({ id: "r1" }), { continueRun: "r1" });
  assert.deepEqual(runActionCommand("continue", "r1"), { command: "refute.run", argument: { continueRun: "r1" } });
  assert.throws(() => runActionCommand("resumeWithBudget", "r1"), ArgumentError);
});

test("a budget-reached run offers a resume with a larger budget; a partial audit offers to continue", () => {
  assert.deepEqual(actionsFor("budget_reached"), ["resumeWithBudget", "report", "applyEdits", "exportSarif"]);
  assert.deepEqual(actionsFor("completed", true), ["continue", "report", "applyEdits", "exportSarif"]);
  assert.ok(!actionsFor("completed").includes("continue"));
  const [partial, whole, stopped] = parseRuns([
    { id: "r1", workflow: "audit", status: "completed", created_at: 3, budget: { tokens: 1500, usd: null },
      result: { covered: 2, not_covered: 1, complete: false } },
    { id: "r2", workflow: "audit", status: "completed", created_at: 2, result: { covered: 3, not_covered: 0, complete: true } },
    { id: "r3", workflow: "ask", status: "budget_reached", created_at: 1, result: "not a coverage record" },
  ]);
  assert.deepEqual(partial.coverage, { covered: 2, notCovered: 1, complete: false });
  assert.equal(partial.budgetTokens, 1500);
  assert.equal(partial.budgetUsd, null);
  assert.equal(isPartial(partial), true);
  assert.equal(isPartial(whole), false);
  assert.equal(isPartial(stopped), false);
  assert.equal(stopped.coverage, undefined);
  assert.equal(isPartial({ status: "running", coverage: { covered: 0, notCovered: 3, complete: false } }), false);
  assert.match(runPickItems([partial])[0].detail, /2 of 3 units covered/);
});
