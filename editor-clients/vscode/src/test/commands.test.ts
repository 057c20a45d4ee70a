import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ArgumentError, askArgs, isEvidencePage, isMarkdownReport, opensAsPreview, auditArgs, migrateArgs, newWorkflowArgs, runActionCommand, securityArgs } from "../logic/commands";
import { actionsFor, parseRuns, runPickItems } from "../logic/runs";

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
