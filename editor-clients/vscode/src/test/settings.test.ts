import { test } from "node:test";
import * as assert from "node:assert/strict";
import { serverSettings } from "../logic/settings";

function reader(values: Record<string, unknown>) {
  return (key: string) => values[key];
}

test("editor settings map to the server's camelCase keys", () => {
  const out = serverSettings(reader({
    provider: "scripted",
    "models.finder": "claude-opus-4-1",
    "models.refuter": "claude-haiku-4-5",
    "budget.tokens": 50000,
    "budget.usd": 1.5,
    maxConcurrency: 4,
    "approval.thresholdCalls": 10,
    "approval.thresholdUsd": 0.5,
    excludes: ["vendor/**"],
    "anthropic.baseUrl": "https://gateway.internal",
    "anthropic.batch": true,
  }));
  assert.deepEqual(out, {
    provider: "scripted",
    modelFinder: "claude-opus-4-1",
    modelRefuter: "claude-haiku-4-5",
    budgetTokens: 50000,
    budgetUsd: 1.5,
    maxConcurrency: 4,
    approvalThresholdCalls: 10,
    approvalThresholdUsd: 0.5,
    excludes: ["vendor/**"],
    anthropicBaseUrl: "https://gateway.internal",
    batch: true,
  });
});

test("empty and null settings are left to the server's defaults", () => {
  const out = serverSettings(reader({ "models.default": "", "budget.tokens": null, provider: undefined, maxConcurrency: 16 }));
  assert.deepEqual(out, { maxConcurrency: 16 });
});

test("editor-only settings never reach the server", () => {
  const out = serverSettings(reader({ "server.command": ["refute", "lsp"], "server.pythonPath": "/usr/bin/python3" }));
  assert.deepEqual(out, {});
});

test("a relative fixture file resolves against the workspace; a function reference does not", () => {
  assert.equal(
    serverSettings(reader({ scriptedFixture: "fixtures/audit.json" }), "/w").scriptedFixture,
    "/w/fixtures/audit.json",
  );
  assert.equal(serverSettings(reader({ scriptedFixture: "/abs/f.json" }), "/w").scriptedFixture, "/abs/f.json");
  assert.equal(serverSettings(reader({ scriptedFixture: "tests.fakes:answers" }), "/w").scriptedFixture, "tests.fakes:answers");
});

test("arrays are copied so later edits to the editor config don't leak", () => {
  const excludes = ["a"];
  const out = serverSettings(reader({ excludes }));
  excludes.push("b");
  assert.deepEqual(out.excludes, ["a"]);
});
