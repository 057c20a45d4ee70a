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

export type RunAction = "cancel" | "pause" | "resume" | "report" | "applyEdits" | "exportSarif";

/** The server command and its argument for an action on one run. */
export function runActionCommand(action: RunAction, runId: string): { command: string; argument: Record<string, unknown> } {
  switch (action) {
    case "cancel":
      return { command: "refute.cancel", argument: { runId } };
    case "pause":
      return { command: "refute.pause", argument: { runId } };
    case "resume":
      return { command: "refute.resume", argument: { runId } };
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
