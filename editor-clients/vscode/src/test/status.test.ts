import { test } from "node:test";
import * as assert from "node:assert/strict";
import { describeRun, formatTokens, formatUsd, isFinished, isRunProgressToken, RunTracker, statusView } from "../logic/status";

test("token counts are compact", () => {
  assert.equal(formatTokens(950), "950");
  assert.equal(formatTokens(12_345), "12.3k");
  assert.equal(formatTokens(2_000), "2k");
  assert.equal(formatTokens(4_200_000), "4.2M");
});

test("cheap runs still show their cost", () => {
  assert.equal(formatUsd(0), "$0");
  assert.equal(formatUsd(0.0042), "$0.0042");
  assert.equal(formatUsd(1.234), "$1.23");
});

test("one run shows workflow, calls, tokens and cost", () => {
  const view = statusView([{ runId: "r1", workflow: "audit", status: "running", callsDone: 12, tokens: 34_500, costUsd: 0.12 }]);
  assert.equal(view.visible, true);
  assert.equal(view.text, "$(sync~spin) refute audit: 12 calls · 34.5k tok · $0.12");
  assert.match(view.tooltip, /r1: audit running/);
  assert.match(view.tooltip, /Click to cancel/);
});

test("several runs are summed", () => {
  const view = statusView([
    { runId: "a", workflow: "audit", status: "running", callsDone: 2, tokens: 1000, costUsd: 0.5 },
    { runId: "b", workflow: "ask", status: "completed", callsDone: 3, tokens: 500, costUsd: 0.25 },
  ]);
  assert.equal(view.text, "$(sync~spin) refute 1/2 runs: 5 calls · 1.5k tok · $0.75");
});

test("no runs hides the item", () => {
  assert.equal(statusView([]).visible, false);
});

test("describeRun mentions failures and calls in flight", () => {
  const text = describeRun({ runId: "x", workflow: "audit", status: "running", phase: "refute", callsDone: 4, inFlight: 2, callsFailed: 1, tokens: 10, costUsd: 0 });
  assert.equal(text, "audit running · refute · 4 calls (2 in flight), 1 failed · 10 tokens · $0");
});

test("finished runs linger, then leave", () => {
  const tracker = new RunTracker(1000);
  tracker.update({ runId: "a", workflow: "audit", status: "running" }, 0);
  tracker.update({ runId: "a", workflow: "audit", status: "completed" }, 100);
  tracker.update({ runId: "a", workflow: "audit", status: "completed", callsDone: 9 }, 600);
  assert.equal(tracker.visible(1000).length, 1, "still shown within keepFinishedMs of finishing");
  assert.equal(tracker.get("a")?.callsDone, 9);
  assert.equal(tracker.active(1000).length, 0);
  assert.equal(tracker.visible(1200).length, 0, "gone once keepFinishedMs passed since it first finished");
});

test("run progress tokens are recognised (one status bar item per run)", () => {
  assert.ok(isRunProgressToken("refute-run-20261202-1-3"));
  assert.ok(!isRunProgressToken("other-token"));
  assert.ok(!isRunProgressToken(7));
});

test("an interrupted run (its driving process died) counts as finished", () => {
  assert.ok(isFinished("interrupted"));
  assert.ok(isFinished("budget_reached"), "a budget-reached run has ended (resumable, not running)");
});
