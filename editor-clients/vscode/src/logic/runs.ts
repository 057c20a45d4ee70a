// Turns the server's run list (`refute.runs`) into quick-pick items and the actions that
// make sense for each run's status.
import { formatTokens, formatUsd, isFinished } from "./status";
import type { RunAction } from "./commands";

export interface RunSummary {
  id: string;
  workflow: string;
  status: string;
  phase?: string;
  createdAt?: number;
  callsDone?: number;
  callsFailed?: number;
  tokens?: number;
  costUsd?: number;
  error?: string | null;
  budgetTokens?: number | null;
  budgetUsd?: number | null;
  /** The coverage record of an audit (`result` of the bundled audit and security). */
  coverage?: Coverage;
}

export interface Coverage {
  covered: number;
  notCovered: number;
  complete: boolean;
}

/** The coverage record in a run's result, when the workflow keeps one. */
export function coverageOf(result: unknown): Coverage | undefined {
  if (!result || typeof result !== "object") return undefined;
  const r = result as Record<string, unknown>;
  if (typeof r.complete !== "boolean") return undefined;
  return { covered: num(r.covered) ?? 0, notCovered: num(r.not_covered ?? r.notCovered) ?? 0, complete: r.complete };
}

/** A finished run that left part of its scope unsearched: "Continue audit" covers the rest. */
export function isPartial(run: Pick<RunSummary, "status" | "coverage">): boolean {
  return isFinished(run.status) && run.status !== "budget_reached" && run.coverage?.complete === false;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/** Accepts the server's answer as a list of RunInfo dicts (snake_case, as in
 * model.RunInfo.to_dict) or camelCase, bare or wrapped in {runs: [...]}. */
export function parseRuns(result: unknown): RunSummary[] {
  const list = Array.isArray(result)
    ? result
    : result && typeof result === "object" && Array.isArray((result as { runs?: unknown }).runs)
      ? (result as { runs: unknown[] }).runs
      : [];
  const runs: RunSummary[] = [];
  for (const item of list) {
    if (!item || typeof item !== "object") continue;
    const r = item as Record<string, unknown>;
    const id = (r.id ?? r.runId) as string | undefined;
    if (typeof id !== "string") continue;
    const usage = (r.usage ?? {}) as Record<string, unknown>;
    const budget = (r.budget ?? {}) as Record<string, unknown>;
    const usageTokens = ["input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens"]
      .map((k) => num(usage[k]) ?? 0)
      .reduce((a, b) => a + b, 0);
    runs.push({
      id,
      workflow: String(r.workflow ?? "?"),
      status: String(r.status ?? "?"),
      phase: typeof r.phase === "string" ? r.phase : undefined,
      createdAt: num(r.created_at ?? r.createdAt),
      callsDone: num(r.calls_done ?? r.callsDone),
      callsFailed: num(r.calls_failed ?? r.callsFailed),
      tokens: num(r.tokens) ?? usageTokens,
      costUsd: num(r.cost_usd ?? r.costUsd),
      error: typeof r.error === "string" ? r.error : null,
      budgetTokens: num(budget.tokens) ?? null,
      budgetUsd: num(budget.usd) ?? null,
      coverage: coverageOf(r.result),
    });
  }
  // Newest first: that is the run a person most likely means.
  return runs.sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0));
}

export interface PickItem {
  label: string;
  description: string;
  detail: string;
  runId: string;
}

export function runPickItems(runs: RunSummary[]): PickItem[] {
  return runs.map((r) => ({
    label: `${r.workflow} — ${r.status}`,
    description: r.id,
    detail: [
      r.phase,
      r.coverage && !r.coverage.complete ? `${r.coverage.covered} of ${r.coverage.covered + r.coverage.notCovered} units covered` : undefined,
      `${r.callsDone ?? 0} calls${r.callsFailed ? ` (${r.callsFailed} failed)` : ""}`,
      `${formatTokens(r.tokens ?? 0)} tokens`,
      formatUsd(r.costUsd ?? 0),
      r.error ?? undefined,
    ].filter(Boolean).join(" · "),
    runId: r.id,
  }));
}

export const ACTION_LABELS: Record<RunAction, string> = {
  cancel: "Cancel",
  pause: "Pause",
  resume: "Resume",
  resumeWithBudget: "Resume with a larger budget...",
  continue: "Continue audit (cover what it left)",
  report: "Show report",
  applyEdits: "Apply proposed edits",
  exportSarif: "Export SARIF",
};

/** Actions offered for a run in this status (`partial`: it left part of its scope). */
export function actionsFor(status: string, partial = false): RunAction[] {
  if (status === "paused") return ["resume", "cancel", "report"];
  if (!isFinished(status)) return ["cancel", "pause", "report"];
  // The budget stopped it: continue it with a larger one (finished calls are not paid twice).
  if (status === "budget_reached") return ["resumeWithBudget", "report", "applyEdits", "exportSarif"];
  // A cancelled or failed run can be resumed: finished calls replay from the journal.
  if (status === "cancelled" || status === "failed") return ["resume", "report", "applyEdits", "exportSarif"];
  return [...(partial ? (["continue"] as RunAction[]) : []), "report", "applyEdits", "exportSarif"];
}
