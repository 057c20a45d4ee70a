// Maps the extension's VS Code settings (section "refute") to the server's settings:
// flat camelCase keys that EngineSettings.updated() understands. Editor-only settings
// (how to start the server) stay here; empty values are left out so the server's own
// defaults apply.
import * as path from "node:path";

/** Reads one setting by its dotted key below "refute", e.g. "models.finder". */
export type SettingReader = (key: string) => unknown;

// VS Code key (below "refute.") -> server key.
export const SERVER_SETTING_KEYS: ReadonlyArray<[string, string]> = [
  ["provider", "provider"],
  ["scriptedFixture", "scriptedFixture"],
  ["models.default", "modelDefault"],
  ["models.finder", "modelFinder"],
  ["models.refuter", "modelRefuter"],
  ["models.editor", "modelEditor"],
  ["budget.tokens", "budgetTokens"],
  ["budget.usd", "budgetUsd"],
  ["maxConcurrency", "maxConcurrency"],
  ["maxCalls", "maxCalls"],
  ["approval.thresholdCalls", "approvalThresholdCalls"],
  ["approval.thresholdUsd", "approvalThresholdUsd"],
  ["excludes", "excludes"],
  ["anthropic.baseUrl", "anthropicBaseUrl"],
  ["anthropic.client", "anthropicClient"],
  ["anthropic.region", "anthropicRegion"],
  ["anthropic.inferenceGeo", "inferenceGeo"],
  ["anthropic.batch", "batch"],
  ["openai.baseUrl", "openaiBaseUrl"],
  ["openai.model", "openaiModel"],
  ["openai.priceInput", "openaiPriceInput"],
  ["openai.priceOutput", "openaiPriceOutput"],
];

function isUnset(value: unknown): boolean {
  return value === undefined || value === null || value === "";
}

/** Server settings from the editor's settings. A relative scripted fixture file is
 * resolved against the workspace folder (the server may run with another cwd); a
 * "module:function" fixture is passed as is. */
export function serverSettings(read: SettingReader, workspaceRoot?: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [editorKey, serverKey] of SERVER_SETTING_KEYS) {
    const value = read(editorKey);
    if (isUnset(value)) continue;
    out[serverKey] = Array.isArray(value) ? [...value] : value;
  }
  const fixture = out.scriptedFixture;
  if (typeof fixture === "string" && workspaceRoot && looksLikeFile(fixture) && !path.isAbsolute(fixture)) {
    out.scriptedFixture = path.join(workspaceRoot, fixture);
  }
  return out;
}

function looksLikeFile(fixture: string): boolean {
  // "pkg.module:function" names a function; anything with a slash or .json is a file.
  return fixture.includes("/") || fixture.includes("\\") || fixture.endsWith(".json") || !fixture.includes(":");
}
