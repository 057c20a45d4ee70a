// VS Code glue for the refute language server: starts `refute lsp` once per workspace
// folder (multi-root workspaces are served folder by folder, each with its own root and
// .refute store), wires palette commands to the server's workspace commands, and shows
// live runs in the status bar. Decisions that need no editor (folders, scopes,
// arguments, settings, status text) live in ./logic so they are unit-tested without VS Code.
import * as vscode from "vscode";
import {
  DynamicFeature,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  StaticFeature,
  TransportKind,
} from "vscode-languageclient/node";

import {
  ArgumentError,
  askArgs,
  opensAsPreview,
  auditArgs,
  continueArgs,
  migrateArgs,
  newWorkflowArgs,
  parseBudget,
  resumeArgs,
  RunAction,
  RunArgs,
  runActionCommand,
  securityArgs,
  suggestedBudget,
} from "./logic/commands";
import {
  CommandLike,
  FolderLike,
  folderOf,
  folderSelector,
  ROUTED_COMMAND,
  routeCommand,
  servedFolders,
  unrouteArguments,
  withFolder,
} from "./logic/folders";
import { ACTION_LABELS, actionsFor, isPartial, parseRuns, runPickItems, RunSummary } from "./logic/runs";
import { buildScope, Scope, ScopeError, ScopeKind } from "./logic/scope";
import { resolveServerLaunch, ServerLaunch, ServerNotFound } from "./logic/serverCommand";
import { serverSettings } from "./logic/settings";
import { describeRun, isFinished, isRunProgressToken, RunTracker, RunUpdate, statusView } from "./logic/status";
import { FindingsView } from "./findingsView";

const SECTION = "refute";

/** One workspace folder's language server. */
interface Served extends FolderLike {
  folder: vscode.WorkspaceFolder;
  client: LanguageClient;
}

/** A run as listed by the server of its folder. */
interface FolderRun extends RunSummary {
  folder: string;
  folderName: string;
}

const served = new Map<string, Served>(); // by folder URI
const serverCommands = new Set<string>(); // server command ids registered as VS Code commands
const tracker = new RunTracker();
let statusItem: vscode.StatusBarItem;
let extensionContext: vscode.ExtensionContext;
// Runs whose markdown report opens when they finish (`ask`).
const reportWhenDone = new Set<string>();
// Runs whose end was already announced (a failure, the budget, a partial audit), so
// repeated updates say it once.
const announcedRuns = new Set<string>();
let findingsView: FindingsView | undefined;
let syncing: Promise<void> = Promise.resolve();

/**
 * vscode-languageclient registers the server's command ids (refute.run, ...) as VS Code
 * commands, once per client: the second folder's client would fail to start ("command
 * already exists"). Without that feature, the extension registers them once and routes
 * each call to the right folder's server (logic/folders.ts).
 */
class FolderClient extends LanguageClient {
  override registerFeature(feature: StaticFeature | DynamicFeature<any>): void {
    if ((feature as DynamicFeature<any>).registrationType?.method === ExecuteCommandRequest.method) return;
    super.registerFeature(feature);
  }
}

function folderRefs(): (FolderLike & { folder: vscode.WorkspaceFolder })[] {
  return (vscode.workspace.workspaceFolders ?? [])
    .filter((f) => f.uri.scheme === "file")
    .map((folder) => ({ key: folder.uri.toString(), fsPath: folder.uri.fsPath, name: folder.name, folder }));
}

function running(): Served[] {
  return [...served.values()].filter((s) => s.client.state === State.Running);
}

function readSettings(folder: vscode.WorkspaceFolder): Record<string, unknown> {
  const config = vscode.workspace.getConfiguration(SECTION, folder.uri);
  return serverSettings((key) => config.get(key), folder.uri.fsPath);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extensionContext = context;
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
    const run = await pickRun("Apply the proposed edits of");
    if (run) await runAction("applyEdits", run);
  });
  register("refute.client.exportSarif", async () => {
    const folder = await pickFolder("Export the SARIF of the latest run of");
    if (folder) await exportSarif(folder.key, undefined);
  });
  register("refute.client.resumeWithBudget", async () => {
    const run = await pickRun("Resume with a larger budget", (r) => r.status === "budget_reached" || actionsFor(r.status).includes("resume"));
    if (run) await resumeWithBudget(run);
  });
  register("refute.client.continueAudit", async () => {
    const run = await pickRun("Continue which audit (cover what it left)?", isPartial);
    if (run) await continueRun(run);
  });
  // Every server command a code action or code lens carries comes through here, with
  // the folder of the server that offered it.
  register(ROUTED_COMMAND, (...args: unknown[]) => {
    const routed = unrouteArguments(args);
    return executeRaw(routed.folderKey, routed.command, routed.arguments);
  });
  findingsView = new FindingsView({
    folders: () => running().map(({ key, name, fsPath }) => ({ key, name, fsPath })),
    execute: (folderKey, command, argument) => execute(folderKey, command, argument),
  });
  findingsView.register(context, register);
  register("refute.client.restartServer", async () => {
    await stopAll();
    await syncFolders();
  });

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration(SECTION)) return;
      if (event.affectsConfiguration(`${SECTION}.server`)) {
        await stopAll();
        await syncFolders();
        return;
      }
      // The servers pull the new values with workspace/configuration; they are also
      // sent along for servers that read the notification's payload.
      for (const s of running()) {
        await s.client.sendNotification("workspace/didChangeConfiguration", { settings: { [SECTION]: readSettings(s.folder) } });
      }
    }),
    // Folders added to or removed from the workspace get or lose their server.
    vscode.workspace.onDidChangeWorkspaceFolders(() => syncFolders()),
  );

  await syncFolders();
}

export async function deactivate(): Promise<void> {
  await stopAll();
}

/** Starts a server for each served folder that has none and stops those of folders no
 * longer in the workspace. Calls are queued: folder events can come while one runs. */
function syncFolders(): Promise<void> {
  syncing = syncing.then(async () => {
    const wanted = servedFolders(folderRefs());
    for (const key of [...served.keys()]) {
      if (!wanted.some((w) => w.key === key)) await stopClient(key);
    }
    const missing = wanted.filter((w) => !served.has(w.key));
    if (missing.length === 0) return;
    const launch = await resolveLaunch();
    if (!launch) return;
    await Promise.all(missing.map((f) => startClient(f.folder, launch, wanted.length)));
    void findingsView?.refresh();
  }).catch((error) => {
    vscode.window.showErrorMessage(`refute: ${error instanceof Error ? error.message : String(error)}`);
  });
  return syncing;
}

async function openServerSettings(): Promise<void> {
  await vscode.commands.executeCommand("workbench.action.openSettings", "refute.server");
}

/** The server command from the settings, or undefined after saying what is wrong. */
async function resolveLaunch(): Promise<ServerLaunch | undefined> {
  const config = vscode.workspace.getConfiguration(SECTION);
  try {
    return resolveServerLaunch(
      { command: config.get<string[]>("server.command"), pythonPath: config.get<string>("server.pythonPath") },
      process.env.PATH,
    );
  } catch (error) {
    if (!(error instanceof ServerNotFound)) throw error;
    const choice = await vscode.window.showErrorMessage(error.message, "Open Settings");
    if (choice === "Open Settings") await openServerSettings();
    return undefined;
  }
}

async function startClient(folder: vscode.WorkspaceFolder, launch: ServerLaunch, folderCount: number): Promise<void> {
  const key = folder.uri.toString();
  const serverOptions: ServerOptions = {
    command: launch.command,
    args: launch.args,
    transport: TransportKind.stdio,
    options: { cwd: folder.uri.fsPath },
  };
  const routeAll = <T extends CommandLike | vscode.CodeAction>(items: T[] | null | undefined): T[] | null | undefined =>
    items?.map((item) => routeItem(item, key));
  const clientOptions: LanguageClientOptions = {
    // This folder's files only; the server's root is the folder (initialize's rootUri
    // and workspaceFolders), so its store is the folder's .refute.
    documentSelector: folderSelector(key),
    workspaceFolder: folder,
    initializationOptions: readSettings(folder),
    middleware: {
      // One status bar item per run: ours (refute/runUpdate, click to cancel).
      handleWorkDoneProgress: (token, params, next) => {
        if (isRunProgressToken(token) && params.kind !== "end") return;
        next(token, params);
      },
      // Commands in code actions and code lenses go back to this folder's server.
      provideCodeActions: async (document, range, context, token, next) => routeAll(await next(document, range, context, token)),
      resolveCodeAction: async (item, token, next) => {
        const resolved = await next(item, token);
        return resolved ? routeItem(resolved, key) : resolved;
      },
      provideCodeLenses: async (document, token, next) => {
        const lenses = await next(document, token);
        lenses?.forEach((lens) => lens.command && (lens.command = routeCommand(lens.command, key)));
        return lenses;
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
            item.section === SECTION || item.section === undefined ? readSettings(folder) : fallback[i],
          );
        },
      },
    },
  };
  const name = withFolder("refute", folder.name, folderCount);
  const client = new FolderClient("refute", name, serverOptions, clientOptions);
  served.set(key, { key, fsPath: folder.uri.fsPath, name: folder.name, folder, client });
  extensionContext.subscriptions.push(
    client.onNotification("refute/runUpdate", (update: RunUpdate) => onRunUpdate(key, update)),
  );
  try {
    await client.start();
    registerServerCommands(client);
  } catch (error) {
    const choice = await vscode.window.showErrorMessage(
      `refute: the language server for ${folder.name} (${launch.command} ${launch.args.join(" ")}) did not start: ${String(error)}`,
      "Open Settings",
    );
    if (choice === "Open Settings") await openServerSettings();
  }
}

/** A code action or command from the server of `folderKey`, its command routed back there. */
function routeItem<T extends CommandLike | vscode.CodeAction>(item: T, folderKey: string): T {
  if (typeof (item as CommandLike).command === "string") return routeCommand(item as CommandLike, folderKey) as T;
  const action = item as vscode.CodeAction;
  if (action.command) action.command = routeCommand(action.command, folderKey);
  return item;
}

/** The server's own command ids stay usable as VS Code commands (keybindings, other
 * extensions): registered once, sent to the server of the active editor's folder. */
function registerServerCommands(client: LanguageClient): void {
  for (const command of client.initializeResult?.capabilities.executeCommandProvider?.commands ?? []) {
    if (serverCommands.has(command)) continue;
    serverCommands.add(command);
    extensionContext.subscriptions.push(vscode.commands.registerCommand(command, async (...args: unknown[]) => {
      const folder = await pickFolder(command);
      return folder ? executeRaw(folder.key, command, args) : undefined;
    }));
  }
}

async function stopClient(key: string): Promise<void> {
  const entry = served.get(key);
  served.delete(key);
  if (entry && entry.client.state === State.Running) await entry.client.stop();
}

async function stopAll(): Promise<void> {
  await Promise.all([...served.keys()].map(stopClient));
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

function executeRaw<T = unknown>(folderKey: string, command: string, args: unknown[]): Promise<T> {
  const entry = served.get(folderKey);
  if (!entry || entry.client.state !== State.Running) {
    throw new Error(`the language server${entry ? ` for ${entry.name}` : ""} is not running (see the 'refute' output channel).`);
  }
  return entry.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args }) as Promise<T>;
}

function execute<T = unknown>(folderKey: string, command: string, argument: Record<string, unknown>): Promise<T> {
  return executeRaw<T>(folderKey, command, [argument]);
}

/** The served folder holding this file, or undefined. */
function servedFolderOf(uri: vscode.Uri | undefined): Served | undefined {
  if (!uri || uri.scheme !== "file") return undefined;
  return folderOf(uri.fsPath, running());
}

/** The folder a command without a file means: the active editor's, the only one, or
 * the one the person picks. */
async function pickFolder(title: string): Promise<Served | undefined> {
  const folders = running();
  if (folders.length === 0) throw new Error("the language server is not running (see the 'refute' output channel).");
  const active = servedFolderOf(vscode.window.activeTextEditor?.document.uri);
  if (active) return active;
  if (folders.length === 1) return folders[0];
  const picked = await vscode.window.showQuickPick(
    folders.map((f) => ({ label: f.name, description: f.fsPath, key: f.key })),
    { title: `${title}: which folder?` },
  );
  return picked && served.get(picked.key);
}

// --- scopes and runs ----------------------------------------------------------------

interface FolderScope {
  folder: Served;
  scope: Scope;
}

/** Where a run of this kind goes: the whole workspace is every folder (one run each);
 * a folder, file or selection is the folder that holds it. */
function scopesFor(kind: ScopeKind, uri?: vscode.Uri): FolderScope[] {
  if (running().length === 0) {
    if (!vscode.workspace.workspaceFolders?.length) throw new ScopeError("Open a folder first: refute runs over a workspace folder.");
    throw new Error("the language server is not running (see the 'refute' output channel).");
  }
  if (kind === "workspace") {
    return running().map((folder) => ({ folder, scope: buildScope({ kind, workspaceRoot: folder.fsPath }) }));
  }
  const editor = vscode.window.activeTextEditor;
  const fileUri = uri ?? (editor?.document.uri.scheme === "file" ? editor.document.uri : undefined);
  let target = fileUri?.fsPath;
  if (kind === "folder" && fileUri && !uri) target = vscode.Uri.joinPath(fileUri, "..").fsPath;
  const folder = servedFolderOf(fileUri);
  if (!folder) {
    throw new ScopeError(fileUri ? `${fileUri.fsPath} is in no workspace folder refute serves.` : "Open a file of the workspace first.");
  }
  const sel = editor?.selection;
  const scope = buildScope({
    kind,
    workspaceRoot: folder.fsPath,
    target,
    selection: kind === "selection" && sel && !sel.isEmpty
      ? { startLine: sel.start.line, startCharacter: sel.start.character, endLine: sel.end.line, endCharacter: sel.end.character }
      : undefined,
  });
  return [{ folder, scope }];
}

function budget(folder?: Served) {
  const config = vscode.workspace.getConfiguration(SECTION, folder?.folder.uri);
  return { tokens: config.get<number | null>("budget.tokens"), usd: config.get<number | null>("budget.usd") };
}

async function startRun(folder: Served, args: RunArgs): Promise<string | undefined> {
  const result = await execute<{ runId?: string; declined?: boolean }>(folder.key, "refute.run", args as unknown as Record<string, unknown>);
  const what = args.workflow || "continued";
  if (result?.declined) {
    vscode.window.showInformationMessage(`refute: the ${what} run was not started.`);
    return undefined;
  }
  if (!result?.runId) throw new Error(`refute.run returned no run id: ${JSON.stringify(result)}`);
  // The server's run updates can overtake this answer; never overwrite them.
  if (!tracker.get(result.runId)) onRunUpdate(folder.key, { runId: result.runId, workflow: what, status: "queued" });
  return result.runId;
}

async function startScoped(kind: ScopeKind, build: (scope: Scope, b: ReturnType<typeof budget>) => RunArgs, uri?: vscode.Uri) {
  const ids = [];
  for (const { folder, scope } of scopesFor(kind, uri)) ids.push(await startRun(folder, build(scope, budget(folder))));
  return ids;
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

/** One folder for a run that needs one (a migration or a question): a workspace scope
 * is the picked folder's whole tree. */
async function oneFolderScope(kind: ScopeKind, title: string): Promise<FolderScope | undefined> {
  if (kind !== "workspace") return scopesFor(kind)[0];
  const folder = await pickFolder(title);
  return folder && { folder, scope: buildScope({ kind, workspaceRoot: folder.fsPath }) };
}

/** Asks for a command's text; undefined when the user dismissed the box. */
function inputText(title: string, prompt: string): Thenable<string | undefined> {
  return vscode.window.showInputBox({ title, prompt, ignoreFocusOut: true });
}

async function migrate(): Promise<void> {
  const instruction = await inputText("refute: migrate", "What should change? e.g. \"replace os.path with pathlib\"");
  if (instruction === undefined) return;
  const kind = await pickScopeKind("Migrate");
  if (!kind) return;
  const target = await oneFolderScope(kind, "Migrate");
  if (!target) return;
  const runId = await startRun(target.folder, migrateArgs(instruction, target.scope, budget(target.folder)));
  if (runId) {
    vscode.window.showInformationMessage(
      "refute: the migration runs in the background; review and apply its edits from refute: Runs when it finishes.",
    );
  }
}

async function ask(): Promise<void> {
  const question = await inputText("refute: ask", "Question about this codebase");
  if (question === undefined) return;
  const target = await oneFolderScope("workspace", "Ask about");
  if (!target) return;
  const runId = await startRun(target.folder, askArgs(question, target.scope, budget(target.folder)));
  if (runId) reportWhenDone.add(runId);
}

async function newWorkflow(): Promise<void> {
  const request = await inputText(
    "refute: new workflow",
    "Describe the workflow to write, e.g. \"find SQL built by string formatting and verify each\"",
  );
  if (request === undefined) return;
  const folder = await pickFolder("New workflow in");
  if (!folder) return;
  const result = await execute<{ path?: string }>(folder.key, "refute.newWorkflow", newWorkflowArgs(request));
  if (result?.path) await openFolderFile(folder, result.path);
}

function folderFile(folder: Served, file: string): vscode.Uri {
  return file.startsWith("/") ? vscode.Uri.file(file) : vscode.Uri.joinPath(vscode.Uri.file(folder.fsPath), file);
}

async function openFolderFile(folder: Served, file: string): Promise<void> {
  await vscode.window.showTextDocument(folderFile(folder, file));
}

/** The runs of every served folder, newest first. */
async function listRuns(only?: Served): Promise<FolderRun[]> {
  const folders = only ? [only] : running();
  let firstError: unknown;
  const lists = await Promise.all(folders.map(async (folder) => {
    try {
      return parseRuns(await execute(folder.key, "refute.runs", {})).map((r) => ({ ...r, folder: folder.key, folderName: folder.name }));
    } catch (error) {
      firstError ??= error;
      return [];
    }
  }));
  if (firstError && lists.every((l) => l.length === 0)) throw firstError;
  const runs = lists.flat().sort((a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0));
  return runs;
}

function folderRunItems(runs: FolderRun[]) {
  const folderCount = running().length;
  return runPickItems(runs).map((item, i) => ({ ...item, label: withFolder(item.label, runs[i].folderName, folderCount), run: runs[i] }));
}

async function pickRun(title: string, keep: (r: FolderRun) => boolean = () => true, onlyActive = false): Promise<FolderRun | undefined> {
  const runs = (await listRuns()).filter((r) => keep(r) && (!onlyActive || !isFinished(r.status)));
  if (runs.length === 0) {
    vscode.window.showInformationMessage(onlyActive ? "refute: no run is in progress." : "refute: no such run.");
    return undefined;
  }
  if (onlyActive && runs.length === 1) return runs[0];
  const picked = await vscode.window.showQuickPick(folderRunItems(runs), { title, matchOnDescription: true });
  return picked?.run;
}

async function runsPicker(): Promise<void> {
  const runs = await listRuns();
  if (runs.length === 0) {
    vscode.window.showInformationMessage("refute: no runs yet.");
    return;
  }
  const picked = await vscode.window.showQuickPick(folderRunItems(runs), { title: "refute runs", matchOnDescription: true });
  if (!picked) return;
  const run = picked.run;
  const action = await vscode.window.showQuickPick(
    actionsFor(run.status, isPartial(run)).map((a) => ({ label: ACTION_LABELS[a], action: a })),
    { title: `${run.workflow} ${run.id}` },
  );
  if (action) await runAction(action.action, run);
}

async function cancelRun(): Promise<void> {
  const run = await pickRun("Cancel which run?", undefined, true);
  if (run) await runAction("cancel", run);
}

/** Asks for the larger budget (prefilled with twice the run's), then resumes the run:
 * finished calls replay from the journal, so nothing is paid twice. */
async function resumeWithBudget(run: FolderRun): Promise<void> {
  const text = await vscode.window.showInputBox({
    title: `refute: resume ${run.workflow} ${run.id} with a larger budget`,
    prompt: `Budget for the whole run (it has spent ${describeRun({ runId: run.id, workflow: run.workflow, status: run.status, tokens: run.tokens, costUsd: run.costUsd, callsDone: run.callsDone })}): tokens=N usd=X`,
    value: suggestedBudget({ tokens: run.budgetTokens, usd: run.budgetUsd }, { tokens: run.tokens, costUsd: run.costUsd }),
    ignoreFocusOut: true,
    validateInput: (value) => {
      try {
        parseBudget(value);
        return undefined;
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
    },
  });
  if (text === undefined) return;
  const raised = parseBudget(text);
  await execute(run.folder, "refute.resume", resumeArgs(run.id, raised));
  announcedRuns.delete(run.id); // its next end is news again
  vscode.window.showInformationMessage(`refute: resumed ${run.workflow} ${run.id} with ${text.trim()}.`);
}

/** "Continue audit": a new run over what `run` left, skipping what it covered. */
async function continueRun(run: FolderRun): Promise<void> {
  const folder = served.get(run.folder);
  if (!folder) throw new Error(`the folder of run ${run.id} is no longer in the workspace.`);
  const runId = await startRun(folder, continueArgs(run, budget(folder)));
  if (runId) vscode.window.showInformationMessage(`refute: continuing ${run.workflow} ${run.id} as run ${runId}.`);
}

async function exportSarif(folderKey: string, runId: string | undefined): Promise<void> {
  const folder = served.get(folderKey)!;
  const result = await execute<{ path?: string }>(folderKey, "refute.exportSarif", runId ? { runId } : {});
  if (result?.path) {
    const choice = await vscode.window.showInformationMessage(`refute: SARIF written to ${result.path}`, "Open");
    if (choice === "Open") await openFolderFile(folder, result.path);
  }
}

async function runAction(action: RunAction, run: FolderRun): Promise<void> {
  if (action === "exportSarif") return exportSarif(run.folder, run.id);
  if (action === "resumeWithBudget") return resumeWithBudget(run);
  if (action === "continue") return continueRun(run);
  const folder = served.get(run.folder);
  if (!folder) throw new Error(`the folder of run ${run.id} is no longer in the workspace.`);
  const { command, argument } = runActionCommand(action, run.id);
  const result = await execute<Record<string, unknown>>(folder.key, command, argument);
  if (action === "report") {
    await showMarkdown(folder, result);
  } else if (action === "applyEdits") {
    await saveApplied(folder, result?.applied);
    const applied = (result?.applied as unknown[] | undefined)?.length ?? 0;
    const refused = (result?.refused as unknown[] | undefined) ?? [];
    const message = `refute: applied ${applied} edit(s)` + (refused.length ? `, refused ${refused.length}: ${JSON.stringify(refused)}` : ".");
    (refused.length ? vscode.window.showWarningMessage : vscode.window.showInformationMessage)(message);
  } else {
    vscode.window.showInformationMessage(`refute: ${ACTION_LABELS[action].toLowerCase()} sent to run ${run.id}.`);
  }
}

/** Accepting edits in the refactor preview changes buffers; the person accepted them,
 * so save those files (others the person had open stay as they were). */
async function saveApplied(folder: Served, applied: unknown): Promise<void> {
  if (!Array.isArray(applied)) return;
  for (const rel of applied) {
    if (typeof rel !== "string") continue;
    const target = folderFile(folder, rel).fsPath;
    const doc = vscode.workspace.textDocuments.find((d) => d.uri.fsPath === target);
    if (doc?.isDirty) await doc.save();
  }
}

/** Renders a `refute.report` answer: the report file the server wrote (the same
 * preview its showDocument opened, so no duplicate), else the content as an untitled doc. */
async function showMarkdown(folder: Served, report: Record<string, unknown> | undefined): Promise<void> {
  if (typeof report?.path === "string") {
    await vscode.commands.executeCommand("markdown.showPreview", folderFile(folder, report.path));
    return;
  }
  const content = typeof report?.content === "string" ? report.content : JSON.stringify(report, null, 2);
  const doc = await vscode.workspace.openTextDocument({ language: "markdown", content });
  await vscode.commands.executeCommand("markdown.showPreview", doc.uri);
}

// --- live status ----------------------------------------------------------------------

function onRunUpdate(folderKey: string, update: RunUpdate): void {
  tracker.update(update);
  renderStatus();
  findingsView?.scheduleRefresh();
  if (!isFinished(update.status)) return;
  const folder = served.get(folderKey);
  if (reportWhenDone.delete(update.runId) && folder) {
    guarded(async () => {
      const { command, argument } = runActionCommand("report", update.runId);
      await showMarkdown(folder, await execute<Record<string, unknown>>(folderKey, command, argument));
    });
  }
  if (announcedRuns.has(update.runId)) return;
  announcedRuns.add(update.runId);
  if (update.status === "failed" || update.status === "completed with failures") {
    vscode.window.showWarningMessage(`refute: ${describeRun(update)}`);
  } else if (update.status === "budget_reached") {
    guarded(() => offerResume(folderKey, update));
  } else if (update.status === "completed" || update.status === "interrupted") {
    guarded(() => offerContinue(folderKey, update));
  }
}

/** The budget stopped a run: say so, with a button that resumes it with a larger one. */
async function offerResume(folderKey: string, update: RunUpdate): Promise<void> {
  const label = ACTION_LABELS.resumeWithBudget;
  const choice = await vscode.window.showWarningMessage(
    `refute: ${describeRun(update)}: the budget stopped it; finished calls are kept.`, label);
  if (choice !== label) return;
  const run = (await listRuns(served.get(folderKey))).find((r) => r.id === update.runId);
  if (!run) throw new Error(`run ${update.runId} is no longer listed.`);
  await resumeWithBudget(run);
}

/** An audit that stopped early to keep capacity for verification left part of its scope
 * unsearched (its coverage record): say how much, with a button that continues it. */
async function offerContinue(folderKey: string, update: RunUpdate): Promise<void> {
  const folder = served.get(folderKey);
  if (!folder) return;
  const run = (await listRuns(folder)).find((r) => r.id === update.runId);
  if (!run || !isPartial(run) || !run.coverage) return;
  const label = "Continue audit";
  const total = run.coverage.covered + run.coverage.notCovered;
  const choice = await vscode.window.showInformationMessage(
    `refute: ${run.workflow} ${run.id} searched ${run.coverage.covered} of ${total} units; ${run.coverage.notCovered} not searched yet.`, label);
  if (choice === label) await continueRun(run);
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
