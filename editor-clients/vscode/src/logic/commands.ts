// Arguments for the server's workspace commands (ARCHITECTURE.md, "server"). The client
// registers its own ids (refute.client.*): vscode-languageclient already registers the
// server's ids (refute.run, ...) as VS Code commands.

import type { Scope } from "./scope";

/** Bundled workflow names the palette commands start. */
export const WORKFLOWS = {
  audit: "audit",
  security: "security",
  migrate: "migrate",
  ask: "ask",
} as const;

export interface RunArgs {
  workflow: string;
  scope?: Scope;
  args?: Record<string, unknown>;
  budgetTokens?: number;
  budgetUsd?: number;
}

export interface Budget {
  tokens?: number | null;
  usd?: number | null;
}

function withBudget(run: RunArgs, budget?: Budget): RunArgs {
  if (budget?.tokens) run.budgetTokens = budget.tokens;
  if (budget?.usd) run.budgetUsd = budget.usd;
  return run;
}

export function auditArgs(scope: Scope, budget?: Budget): RunArgs {
  return withBudget({ workflow: WORKFLOWS.audit, scope }, budget);
}

export function securityArgs(scope: Scope, budget?: Budget): RunArgs {
  return withBudget({ workflow: WORKFLOWS.security, scope }, budget);
}

export class ArgumentError extends Error {}

function required(text: string | undefined, what: string): string {
  const trimmed = (text ?? "").trim();
  if (!trimmed) throw new ArgumentError(`${what} is empty.`);
  return trimmed;
}

export function migrateArgs(instruction: string | undefined, scope: Scope, budget?: Budget): RunArgs {
  return withBudget({ workflow: WORKFLOWS.migrate, scope, args: { instruction: required(instruction, "The migration instruction") } }, budget);
}

export function askArgs(question: string | undefined, scope: Scope, budget?: Budget): RunArgs {
  return withBudget({ workflow: WORKFLOWS.ask, scope, args: { question: required(question, "The question") } }, budget);
}

export function newWorkflowArgs(request: string | undefined): { request: string } {
  return { request: required(request, "The workflow description") };
}

export type RunAction = "cancel" | "pause" | "resume" | "resumeWithBudget" | "continue" | "report" | "applyEdits" | "exportSarif";

/** A raised budget as `refute.resume` takes it (budgetTokens, budgetUsd). */
export interface RaisedBudget {
  budgetTokens?: number;
  budgetUsd?: number;
}

/** "tokens=200000 usd=2.5" (either or both, spaces or commas between) -> the raised
 * budget; the same words as Neovim's `:RefuteResume RUN tokens=N usd=X`. Throws
 * ArgumentError saying what is wrong, so an input box can show it as it is typed. */
export function parseBudget(text: string | undefined): RaisedBudget {
  const out: RaisedBudget = {};
  for (const word of (text ?? "").split(/[\s,]+/).filter(Boolean)) {
    const match = /^(tokens|usd)=(.+)$/i.exec(word);
    if (!match) throw new ArgumentError(`"${word}" is not tokens=N or usd=X`);
    const value = Number(match[2].replace(/^\$/, "").replace(/_/g, ""));
    if (match[1].toLowerCase() === "tokens") {
      if (!Number.isInteger(value) || value <= 0) throw new ArgumentError(`tokens must be a whole number above 0, not ${match[2]}`);
      out.budgetTokens = value;
    } else {
      if (!Number.isFinite(value) || value <= 0) throw new ArgumentError(`usd must be a number above 0, not ${match[2]}`);
      out.budgetUsd = value;
    }
  }
  if (out.budgetTokens === undefined && out.budgetUsd === undefined) {
    throw new ArgumentError("give a larger budget: tokens=N, usd=X or both");
  }
  return out;
}

/** What the budget input box starts with: twice each limit the run had (twice what it
 * spent when it had none), so Enter alone doubles the budget. */
export function suggestedBudget(limit: { tokens?: number | null; usd?: number | null }, spent: { tokens?: number; costUsd?: number }): string {
  const parts: string[] = [];
  const tokens = limit.tokens ?? (limit.usd ? undefined : spent.tokens);
  if (tokens) parts.push(`tokens=${Math.ceil(tokens * 2)}`);
  if (limit.usd) parts.push(`usd=${(Math.ceil(limit.usd * 200) / 100).toFixed(2)}`);
  return parts.join(" ") || "tokens=100000";
}

/** `refute.resume` with a larger budget (issue 12: the editor offers what
 * `refute resume RUN --budget-tokens N --budget-usd X` does). */
export function resumeArgs(runId: string, raised: RaisedBudget): Record<string, unknown> & { runId: string } & RaisedBudget {
  return { runId, ...raised };
}

/** `refute.run` continuing a run ("Continue audit", issue 13): the same workflow, scope
 * and arguments, skipping what the run already covered; the budget is this editor's. */
export function continueArgs(run: { id: string; workflow?: string }, budget?: Budget): RunArgs & { continueRun: string } {
  const args = withBudget({ workflow: run.workflow ?? "", continueRun: run.id } as RunArgs & { continueRun: string }, budget);
  if (!args.workflow) delete (args as Partial<RunArgs>).workflow; // the server takes the run's own
  return args as RunArgs & { continueRun: string };
}

/** The server command and its argument for an action on one run. */
export function runActionCommand(action: RunAction, runId: string): { command: string; argument: Record<string, unknown> } {
  switch (action) {
    case "cancel":
      return { command: "refute.cancel", argument: { runId } };
    case "pause":
      return { command: "refute.pause", argument: { runId } };
    case "resume":
      return { command: "refute.resume", argument: { runId } };
    case "resumeWithBudget":
      throw new ArgumentError("resuming with a larger budget needs the budget: use resumeArgs()");
    case "continue":
      return { command: "refute.run", argument: continueArgs({ id: runId }) as unknown as Record<string, unknown> };
    case "report":
      return { command: "refute.report", argument: { runId, format: "md" } };
    case "applyEdits":
      // preview: the server sends one WorkspaceEdit whose changes need confirmation, so
      // VS Code opens its refactor preview (per file or all at once) before writing.
      return { command: "refute.applyEdits", argument: { runId, preview: true } };
    case "exportSarif":
      return { command: "refute.exportSarif", argument: { runId } };
  }
}

/** True for a markdown report the server wrote under .refute/reports/ (its
 * window/showDocument for those is shown as a rendered preview, not as source). */
export function isMarkdownReport(uriOrPath: string): boolean {
  return /(^|\/)\.refute\/reports\/[^/]+\.md$/.test(uriOrPath.replace(/\\/g, "/"));
}

/** An evidence page the server wrote for one finding (.refute/evidence/<title>-<fp>.md):
 * opened as a rendered preview, whose tab is titled by the finding. */
export function isEvidencePage(uriOrPath: string): boolean {
  return /(^|\/)\.refute\/evidence\/[^/]+\.md$/.test(uriOrPath.replace(/\\/g, "/"));
}

/** Markdown the server asks to show that is for reading, not editing. */
export function opensAsPreview(uriOrPath: string): boolean {
  return isMarkdownReport(uriOrPath) || isEvidencePage(uriOrPath);
}
