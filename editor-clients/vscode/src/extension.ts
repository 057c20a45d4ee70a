// VS Code glue for the refute language server: starts `refute lsp`, wires palette
// commands to the server's workspace commands, and shows live runs in the status bar.
// Decisions that need no editor (scopes, arguments, settings, status text) live in
// ./logic so they are unit-tested without VS Code.
import * as vscode from "vscode";
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";

import {
  ArgumentError,
  askArgs,
  opensAsPreview,
  auditArgs,
  migrateArgs,
  newWorkflowArgs,
  RunAction,
  RunArgs,
  runActionCommand,
  securityArgs,
} from "./logic/commands";
import { ACTION_LABELS, actionsFor, parseRuns, runPickItems } from "./logic/runs";
import { buildScope, Scope, ScopeError, ScopeKind } from "./logic/scope";
import { resolveServerLaunch, ServerNotFound } from "./logic/serverCommand";
import { serverSettings } from "./logic/settings";
import { describeRun, isFinished, isRunProgressToken, RunTracker, RunUpdate, statusView } from "./logic/status";
import { FindingsView } from "./findingsView";

const SECTION = "refute";

let client: LanguageClient | undefined;
const tracker = new RunTracker();
let statusItem: vscode.StatusBarItem;
// Runs whose markdown report opens when they finish (`ask`).
const reportWhenDone = new Set<string>();
// Runs whose failure was already shown, so repeated updates warn once.
const warnedRuns = new Set<string>();
let findingsView: FindingsView | undefined;

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function readSettings(): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(SECTION);
  return serverSettings((key) => config.get(key), workspaceRoot());
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  statusItem.name = "refute runs";
  statusItem.command = "refute.client.cancelRun";
  context.subscriptions.push(statusItem);
  // Finished runs fade from the status bar after a while.
  const timer = setInterval(renderStatus, 2000);
  context.subscriptions.push({ dispose: () => clearInterval(timer) });

  const register = (id: string, fn: (...args: any[]) => unknown) =>
    context.subscriptions.push(vscode.commands.registerCommand(id, (...args) => guarded(fn, ...args)));

  register("refute.client.auditWorkspace", () => startScoped("workspace", auditArgs));
  register("refute.client.auditFolder", (uri?: vscode.Uri) => startScoped("folder", auditArgs, uri));
  register("refute.client.auditFile", (uri?: vscode.Uri) => startScoped("file", auditArgs, uri));
  register("refute.client.auditSelection", () => startScoped("selection", auditArgs));
  register("refute.client.securityAudit", async () => {
    const kind = await pickScopeKind("Security audit of");
    if (kind) await startScoped(kind, securityArgs);
  });
  register("refute.client.migrate", migrate);
  register("refute.client.ask", ask);
  register("refute.client.newWorkflow", newWorkflow);
  register("refute.client.runs", runsPicker);
  register("refute.client.cancelRun", cancelRun);
  register("refute.client.applyEdits", async () => {
    const runId = await pickRun("Apply the proposed edits of");
    if (runId) await runAction("applyEdits", runId);
  });
  register("refute.client.exportSarif", () => runAction("exportSarif", undefined));
  findingsView = new FindingsView(execute, workspaceRoot);
  findingsView.register(context, register);
  register("refute.client.restartServer", async () => {
    await stopClient();
    await startClient(context);
  });

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(SECTION)) return;
      if (event.affectsConfiguration(`${SECTION}.server`)) {
        await stopClient();
        await startClient(context);
        return;
      }
      // The server pulls the new values with workspace/configuration; they are also
      // sent along for servers that read the notification's payload.
      await client?.sendNotification("workspace/didChangeConfiguration", { settings: { [SECTION]: readSettings() } });
    }),
  );

  await startClient(context);
}

export async function deactivate(): Promise<void> {
  await stopClient();
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  const config = vscode.workspace.getConfiguration(SECTION);
  let launch;
  try {
    launch = resolveServerLaunch(
      { command: config.get<string[]>("server.command"), pythonPath: config.get<string>("server.pythonPath") },
      process.env.PATH,
    );
  } catch (error) {
    if (error instanceof ServerNotFound) {
      const choice = await vscode.window.showErrorMessage(error.message, "Open Settings");
      if (choice === "Open Settings") {
        await vscode.commands.executeCommand("workbench.action.openSettings", "refute.server");
      }
      return;
    }
    throw error;
  }
  const serverOptions: ServerOptions = {
    command: launch.command,
    args: launch.args,
    transport: TransportKind.stdio,
    options: { cwd: workspaceRoot() },
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: "file" }],
    initializationOptions: readSettings(),
    middleware: {
      // One status bar item per run: ours (refute/runUpdate, click to cancel).
      handleWorkDoneProgress: (token, params, next) => {
        if (isRunProgressToken(token) && params.kind !== "end") return;
        next(token, params);
      },
      window: {
        // Reports and evidence pages are for reading: render them (the preview's tab is
        // titled by the file, which the server names after the finding).
        showDocument: async (params, token, next) => {
          if (!opensAsPreview(params.uri)) return next(params, token);
          await vscode.commands.executeCommand("markdown.showPreview", vscode.Uri.parse(params.uri));
          return { success: true };
        },
      },
      workspace: {
        // Answer for "refute" with the mapped server settings, not VS Code's raw tree
        // (which also holds editor-only keys like server.command).
        configuration: async (params, token, next) => {
          const fallback = await next(params, token);
          if (!Array.isArray(fallback)) return fallback;
          return params.items.map((item, i) =>
            item.section === SECTION || item.section === undefined ? readSettings() : fallback[i],
          );
        },
      },
    },
  };
  client = new LanguageClient("refute", "refute", serverOptions, clientOptions);
  context.subscriptions.push(
    client.onNotification("refute/runUpdate", (update: RunUpdate) => onRunUpdate(update)),
  );
  try {
    await client.start();
    void findingsView?.refresh();
  } catch (error) {
    const choice = await vscode.window.showErrorMessage(
      `refute: the language server (${launch.command} ${launch.args.join(" ")}) did not start: ${String(error)}`,
      "Open Settings",
    );
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "refute.server");
    }
  }
}

async function stopClient(): Promise<void> {
  const running = client;
  client = undefined;
  if (running && running.state === State.Running) await running.stop();
}

async function guarded(fn: (...args: any[]) => unknown, ...args: any[]): Promise<unknown> {
  try {
    return await fn(...args);
  } catch (error) {
    if (error instanceof ScopeError || error instanceof ArgumentError) {
      vscode.window.showWarningMessage(`refute: ${error.message}`);
      return undefined;
    }
    vscode.window.showErrorMessage(`refute: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

async function execute<T = unknown>(command: string, argument: Record<string, unknown>): Promise<T> {
  if (!client || client.state !== State.Running) {
    throw new Error("the language server is not running (see the 'refute' output channel).");
  }
  return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [argument] }) as Promise<T>;
}

// --- scopes and runs ----------------------------------------------------------------

function scopeFor(kind: ScopeKind, uri?: vscode.Uri): Scope {
  const root = workspaceRoot();
  if (!root) throw new ScopeError("Open a folder first: refute runs over a workspace folder.");
  const editor = vscode.window.activeTextEditor;
  const fileUri = uri ?? (editor?.document.uri.scheme === "file" ? editor.document.uri : undefined);
  let target = fileUri?.fsPath;
  if (kind === "folder" && fileUri && !uri) target = vscode.Uri.joinPath(fileUri, "..").fsPath;
  const sel = editor?.selection;
  return buildScope({
    kind,
    workspaceRoot: root,
    target,
    selection: kind === "selection" && sel && !sel.isEmpty
      ? { startLine: sel.start.line, startCharacter: sel.start.character, endLine: sel.end.line, endCharacter: sel.end.character }
      : undefined,
  });
}

function budget() {
  const config = vscode.workspace.getConfiguration(SECTION);
  return { tokens: config.get<number | null>("budget.tokens"), usd: config.get<number | null>("budget.usd") };
}

async function startRun(args: RunArgs): Promise<string | undefined> {
  const result = await execute<{ runId?: string; declined?: boolean }>("refute.run", args as unknown as Record<string, unknown>);
  if (result?.declined) {
    vscode.window.showInformationMessage(`refute: the ${args.workflow} run was not started.`);
    return undefined;
  }
  if (!result?.runId) throw new Error(`refute.run returned no run id: ${JSON.stringify(result)}`);
  // The server's run updates can overtake this answer; never overwrite them.
  if (!tracker.get(result.runId)) onRunUpdate({ runId: result.runId, workflow: args.workflow, status: "queued" });
  return result.runId;
}

async function startScoped(kind: ScopeKind, build: (scope: Scope, b: ReturnType<typeof budget>) => RunArgs, uri?: vscode.Uri) {
  return startRun(build(scopeFor(kind, uri), budget()));
}

async function pickScopeKind(title: string): Promise<ScopeKind | undefined> {
  // `scope`, not `kind`: QuickPickItem.kind means separator/default in VS Code.
  const items: (vscode.QuickPickItem & { scope: ScopeKind })[] = [
    { label: "Workspace", scope: "workspace" },
    { label: "Folder of the current file", scope: "folder" },
    { label: "Current file", scope: "file" },
    { label: "Selection", scope: "selection" },
  ];
  const picked = await vscode.window.showQuickPick(items, { title });
  return picked?.scope;
}

async function migrate(): Promise<void> {
  const instruction = await vscode.window.showInputBox({
    title: "refute: migrate",
    prompt: "What should change? e.g. \"replace os.path with pathlib\"",
    ignoreFocusOut: true,
  });
  if (instruction === undefined) return;
  const kind = await pickScopeKind("Migrate");
  if (!kind) return;
  const runId = await startRun(migrateArgs(instruction, scopeFor(kind), budget()));
  if (runId) {
    vscode.window.showInformationMessage(
      "refute: the migration runs in the background; review and apply its edits from refute: Runs when it finishes.",
    );
  }
}

async function ask(): Promise<void> {
  const question = await vscode.window.showInputBox({ title: "refute: ask", prompt: "Question about this codebase", ignoreFocusOut: true });
  if (question === undefined) return;
  const runId = await startRun(askArgs(question, scopeFor("workspace"), budget()));
  if (runId) reportWhenDone.add(runId);
}

async function newWorkflow(): Promise<void> {
  const request = await vscode.window.showInputBox({
    title: "refute: new workflow",
    prompt: "Describe the workflow to write, e.g. \"find SQL built by string formatting and verify each\"",
    ignoreFocusOut: true,
  });
  if (request === undefined) return;
  const result = await execute<{ path?: string }>("refute.newWorkflow", newWorkflowArgs(request));
  if (result?.path) await openWorkspaceFile(result.path);
}

async function openWorkspaceFile(file: string): Promise<void> {
  const root = workspaceRoot();
  const uri = file.startsWith("/") || !root ? vscode.Uri.file(file) : vscode.Uri.joinPath(vscode.Uri.file(root), file);
  await vscode.window.showTextDocument(uri);
}

async function listRuns() {
  return parseRuns(await execute("refute.runs", {}));
}

async function pickRun(title: string, onlyActive = false): Promise<string | undefined> {
  let runs = await listRuns();
  if (onlyActive) runs = runs.filter((r) => !isFinished(r.status));
  if (runs.length === 0) {
    vscode.window.showInformationMessage(onlyActive ? "refute: no run is in progress." : "refute: no runs yet.");
    return undefined;
  }
  if (onlyActive && runs.length === 1) return runs[0].id;
  const picked = await vscode.window.showQuickPick(runPickItems(runs), { title, matchOnDescription: true });
  return picked?.runId;
}

async function runsPicker(): Promise<void> {
  const runs = await listRuns();
  if (runs.length === 0) {
    vscode.window.showInformationMessage("refute: no runs yet.");
    return;
  }
  const picked = await vscode.window.showQuickPick(runPickItems(runs), { title: "refute runs", matchOnDescription: true });
  if (!picked) return;
  const run = runs.find((r) => r.id === picked.runId)!;
  const action = await vscode.window.showQuickPick(
    actionsFor(run.status).map((a) => ({ label: ACTION_LABELS[a], action: a })),
    { title: `${run.workflow} ${run.id}` },
  );
  if (action) await runAction(action.action, run.id);
}

async function cancelRun(): Promise<void> {
  const runId = await pickRun("Cancel which run?", true);
  if (runId) await runAction("cancel", runId);
}

async function runAction(action: RunAction, runId: string | undefined): Promise<void> {
  if (action === "exportSarif") {
    const result = await execute<{ path?: string }>("refute.exportSarif", runId ? { runId } : {});
    if (result?.path) {
      const choice = await vscode.window.showInformationMessage(`refute: SARIF written to ${result.path}`, "Open");
      if (choice === "Open") await openWorkspaceFile(result.path);
    }
    return;
  }
  if (!runId) return;
  const { command, argument } = runActionCommand(action, runId);
  const result = await execute<Record<string, unknown>>(command, argument);
  if (action === "report") {
    await showMarkdown(result);
  } else if (action === "applyEdits") {
    await saveApplied(result?.applied);
    const applied = (result?.applied as unknown[] | undefined)?.length ?? 0;
    const refused = (result?.refused as unknown[] | undefined) ?? [];
    const message = `refute: applied ${applied} edit(s)` + (refused.length ? `, refused ${refused.length}: ${JSON.stringify(refused)}` : ".");
    (refused.length ? vscode.window.showWarningMessage : vscode.window.showInformationMessage)(message);
  } else {
    vscode.window.showInformationMessage(`refute: ${ACTION_LABELS[action].toLowerCase()} sent to run ${runId}.`);
  }
}

/** Accepting edits in the refactor preview changes buffers; the person accepted them,
 * so save those files (others the person had open stay as they were). */
async function saveApplied(applied: unknown): Promise<void> {
  const root = workspaceRoot();
  if (!root || !Array.isArray(applied)) return;
  for (const rel of applied) {
    if (typeof rel !== "string") continue;
    const target = vscode.Uri.joinPath(vscode.Uri.file(root), rel).fsPath;
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === target);
    if (doc?.isDirty) await doc.save();
  }
}

/** Renders a `refute.report` answer: the report file the server wrote (the same
 * preview its showDocument opened, so no duplicate), else the content as an untitled doc. */
async function showMarkdown(report: Record<string, unknown> | undefined): Promise<void> {
  const root = workspaceRoot();
  if (typeof report?.path === "string" && root) {
    const uri = report.path.startsWith("/") ? vscode.Uri.file(report.path) : vscode.Uri.joinPath(vscode.Uri.file(root), report.path);
    await vscode.commands.executeCommand("markdown.showPreview", uri);
    return;
  }
  const content = typeof report?.content === "string" ? report.content : JSON.stringify(report, null, 2);
  const doc = await vscode.workspace.openTextDocument({ language: "markdown", content });
  await vscode.commands.executeCommand("markdown.showPreview", doc.uri);
}

// --- live status ----------------------------------------------------------------------

function onRunUpdate(update: RunUpdate): void {
  tracker.update(update);
  renderStatus();
  findingsView?.scheduleRefresh();
  if (isFinished(update.status) && reportWhenDone.delete(update.runId)) {
    guarded(async () => {
      const { command, argument } = runActionCommand("report", update.runId);
      await showMarkdown(await execute<Record<string, unknown>>(command, argument));
    });
  }
  if ((update.status === "failed" || update.status === "completed with failures") && !warnedRuns.has(update.runId)) {
    warnedRuns.add(update.runId);
    vscode.window.showWarningMessage(`refute: ${describeRun(update)}`);
  }
}

function renderStatus(): void {
  if (!statusItem) return;
  const view = statusView(tracker.visible());
  if (!view.visible) {
    statusItem.hide();
    return;
  }
  statusItem.text = view.text;
  statusItem.tooltip = view.tooltip;
  statusItem.show();
}
