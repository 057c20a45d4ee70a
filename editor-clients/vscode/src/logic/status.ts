// Keeps the live runs reported by `refute/runUpdate` and formats them for a status bar.

/** The payload of the server's `refute/runUpdate` notification (ARCHITECTURE.md). */
export interface RunUpdate {
  runId: string;
  workflow: string;
  status: string;
  phase?: string;
  callsDone?: number;
  inFlight?: number;
  callsFailed?: number;
  tokens?: number;
  costUsd?: number;
}

// "interrupted": a run another process drove whose process died (the server follows its log).
// "budget_reached": the budget or the paid-call cap stopped dispatch; resumable with a larger one.
const FINISHED = new Set(["cancelled", "failed", "completed", "completed with failures", "interrupted", "budget_reached"]);

export function isFinished(status: string): boolean {
  return FINISHED.has(status);
}

/** 950 -> "950", 12_345 -> "12.3k", 4_200_000 -> "4.2M". */
export function formatTokens(tokens: number): string {
  if (tokens < 1000) return String(Math.round(tokens));
  if (tokens < 1_000_000) return `${(tokens / 1000).toFixed(1).replace(/\.0$/, "")}k`;
  return `${(tokens / 1_000_000).toFixed(1).replace(/\.0$/, "")}M`;
}

/** Cents for normal amounts, more digits for fractions of a cent so cheap runs aren't "$0.00". */
export function formatUsd(usd: number): string {
  if (usd === 0) return "$0";
  if (usd < 0.01) return `$${usd.toFixed(4)}`;
  return `$${usd.toFixed(2)}`;
}

export function describeRun(run: RunUpdate): string {
  const parts = [`${run.workflow} ${run.status}`];
  if (run.phase) parts.push(run.phase);
  let calls = `${run.callsDone ?? 0} calls`;
  if (run.inFlight) calls += ` (${run.inFlight} in flight)`;
  if (run.callsFailed) calls += `, ${run.callsFailed} failed`;
  parts.push(calls, `${formatTokens(run.tokens ?? 0)} tokens`, formatUsd(run.costUsd ?? 0));
  return parts.join(" · ");
}

/** Live runs, keyed by id; finished runs stay visible for `keepFinishedMs`. */
export class RunTracker {
  private runs = new Map<string, { update: RunUpdate; finishedAt?: number }>();

  constructor(private keepFinishedMs = 10_000) {}

  update(update: RunUpdate, now: number = Date.now()): void {
    const finishedAt = isFinished(update.status) ? (this.runs.get(update.runId)?.finishedAt ?? now) : undefined;
    this.runs.set(update.runId, { update, finishedAt });
  }

  /** Drops finished runs older than keepFinishedMs; returns the runs to show, newest last. */
  visible(now: number = Date.now()): RunUpdate[] {
    for (const [id, entry] of this.runs) {
      if (entry.finishedAt !== undefined && now - entry.finishedAt > this.keepFinishedMs) this.runs.delete(id);
    }
    return [...this.runs.values()].map((e) => e.update);
  }

  active(now: number = Date.now()): RunUpdate[] {
    return this.visible(now).filter((r) => !isFinished(r.status));
  }

  get(runId: string): RunUpdate | undefined {
    return this.runs.get(runId)?.update;
  }
}

export interface StatusView {
  text: string;
  tooltip: string;
  visible: boolean;
}

/** One line for the status bar: a single run in full, several runs summed. */
export function statusView(runs: RunUpdate[]): StatusView {
  if (runs.length === 0) return { text: "", tooltip: "", visible: false };
  const running = runs.filter((r) => !isFinished(r.status));
  const icon = running.length > 0 ? "$(sync~spin)" : "$(check)";
  const tooltip = runs.map((r) => `${r.runId}: ${describeRun(r)}`).join("\n") +
    (running.length > 0 ? "\nClick to cancel a run." : "");
  if (runs.length === 1) {
    const r = runs[0];
    return {
      text: `${icon} refute ${r.workflow}: ${r.callsDone ?? 0} calls · ${formatTokens(r.tokens ?? 0)} tok · ${formatUsd(r.costUsd ?? 0)}`,
      tooltip,
      visible: true,
    };
  }
  const calls = runs.reduce((n, r) => n + (r.callsDone ?? 0), 0);
  const tokens = runs.reduce((n, r) => n + (r.tokens ?? 0), 0);
  const cost = runs.reduce((n, r) => n + (r.costUsd ?? 0), 0);
  return {
    text: `${icon} refute ${running.length}/${runs.length} runs: ${calls} calls · ${formatTokens(tokens)} tok · ${formatUsd(cost)}`,
    tooltip,
    visible: true,
  };
}

/** The server's work-done progress of a run (token `refute-run-<id>-<n>`). The status
 * bar item already shows runs from `refute/runUpdate`; the language client's own
 * window progress for the same run was a second item with the same numbers (issue 16),
 * so only its `end` is let through (which just closes it). */
export function isRunProgressToken(token: string | number): boolean {
  return typeof token === "string" && token.startsWith("refute-run-");
}
