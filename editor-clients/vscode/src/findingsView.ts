// The Findings view: every finding of the workspace in a tree (by severity, file,
// category or run), with verdict badges, filters (new, dismissed, fixed, all) and the
// actions apply fix, dismiss with a reason, evidence, re-verify, copy fingerprint. The
// rows come from the server (`refute.findings`), so dismissed and fixed findings, which
// are no longer diagnostics, can still be listed. Grouping and labels: ./logic/findings.
// In a multi-root workspace each folder has its own server: the view lists the findings
// of every folder, and each action goes to the server of the finding's folder.
import * as vscode from "vscode";

import {
  FindingGroup,
  FindingRow,
  findingContext,
  findingDescription,
  GROUP_BY,
  GroupBy,
  groupFindings,
  parseFindings,
  STATE_FILTERS,
  StateFilter,
} from "./logic/findings";

/** The served workspace folders and a way to send a server command to one of them. */
export interface FindingsSource {
  folders(): { key: string; name: string; fsPath: string }[];
  execute<T = unknown>(folderKey: string, command: string, argument: Record<string, unknown>): Promise<T>;
}
type Node = FindingGroup | FindingRow;

const SEVERITY_ICON: Record<string, string> = { error: "error", warning: "warning", info: "info", information: "info", hint: "lightbulb" };
const REFRESH_DEBOUNCE_MS = 500;

function isRow(node: Node): node is FindingRow {
  return (node as FindingRow).fingerprint !== undefined;
}

export class FindingsView implements vscode.TreeDataProvider<Node> {
  private rows: FindingRow[] = [];
  private groupBy: GroupBy = "severity";
  private filter: StateFilter = "new";
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private view: vscode.TreeView<Node> | undefined;
  private pending: ReturnType<typeof setTimeout> | undefined;
  private selected: FindingRow | undefined; // the last finding selected or opened
  private shownJson = "";
  private readonly byFolder = new Map<string, FindingRow[]>();

  constructor(private readonly source: FindingsSource) {}

  /** A server command for the finding's folder. */
  private execute<T = unknown>(row: FindingRow, command: string, argument: Record<string, unknown>): Promise<T> {
    const folder = row.folder ?? this.source.folders()[0]?.key;
    if (!folder) throw new Error("open a workspace folder first.");
    return this.source.execute<T>(folder, command, argument);
  }

  register(context: vscode.ExtensionContext, register: (id: string, fn: (...args: any[]) => unknown) => void): void {
    this.view = vscode.window.createTreeView("refute.findings", { treeDataProvider: this, showCollapseAll: true });
    context.subscriptions.push(this.view, this.changed);
    context.subscriptions.push(this.view.onDidChangeVisibility((e) => e.visible && this.refresh()));
    context.subscriptions.push(this.view.onDidChangeSelection((e) => {
      this.selected = e.selection.find(isRow) ?? this.selected;
    }));
    register("refute.client.findings.refresh", () => this.refresh());
    register("refute.client.findings.groupBy", () => this.pickGroupBy());
    register("refute.client.findings.filter", () => this.pickFilter());
    register("refute.client.findings.applyFix", (row?: FindingRow) => this.applyFix(this.target(row)));
    register("refute.client.findings.dismiss", (row?: FindingRow) => this.dismiss(this.target(row)));
    register("refute.client.findings.evidence", (row?: FindingRow) => {
      const target = this.target(row);
      return this.execute(target, "refute.showEvidence", { fingerprint: target.fingerprint });
    });
    register("refute.client.findings.reverify", async (row?: FindingRow) => {
      const target = this.target(row);
      await this.execute(target, "refute.reverify", { fingerprint: target.fingerprint });
      vscode.window.showInformationMessage(`refute: re-verifying "${target.title}"`);
    });
    register("refute.client.findings.copyFingerprint", async (row?: FindingRow) => {
      const target = this.target(row);
      await vscode.env.clipboard.writeText(target.fingerprint);
      vscode.window.showInformationMessage(`refute: copied the fingerprint of "${target.title}": ${target.fingerprint}`);
    });
    register("refute.client.findings.open", (row: FindingRow) => this.open(row));
    this.updateDescription();
  }

  /** Refresh soon (run updates arrive many times a second). */
  scheduleRefresh(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.refresh();
    }, REFRESH_DEBOUNCE_MS);
  }

  async refresh(): Promise<void> {
    const folders = this.source.folders();
    for (const key of [...this.byFolder.keys()]) {
      if (!folders.some((f) => f.key === key)) this.byFolder.delete(key); // a folder removed from the workspace
    }
    await Promise.all(folders.map(async (folder) => {
      try {
        const rows = parseFindings(await this.source.execute(folder.key, "refute.findings", {}));
        const folderName = folders.length > 1 ? folder.name : undefined;
        this.byFolder.set(folder.key, rows.map((r) => ({ ...r, folder: folder.key, folderName })));
      } catch {
        // that folder's server is not up yet: keep what it listed; the next run update refreshes
      }
    }));
    const rows = folders.flatMap((f) => this.byFolder.get(f.key) ?? []);
    const json = JSON.stringify(rows);
    if (json === this.shownJson) return; // nothing changed: keep the tree (and its selection) as it is
    this.shownJson = json;
    this.rows = rows;
    if (this.selected) this.selected = rows.find((r) => r.fingerprint === this.selected!.fingerprint && r.folder === this.selected!.folder);
    this.changed.fire(undefined);
    this.updateDescription();
  }

  private updateDescription(): void {
    if (!this.view) return;
    const shown = groupFindings(this.rows, this.groupBy, this.filter).reduce((n, g) => n + g.rows.length, 0);
    this.view.description = `${this.filter} · by ${this.groupBy}`;
    this.view.badge = shown ? { value: shown, tooltip: `${shown} ${this.filter} finding(s)` } : undefined;
    this.view.message = shown ? undefined : `No ${this.filter === "all" ? "" : this.filter + " "}findings. Run "refute: Audit Workspace".`;
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (!isRow(node)) {
      const item = new vscode.TreeItem(node.label, vscode.TreeItemCollapsibleState.Expanded);
      item.contextValue = "refute.findingGroup";
      item.id = `group:${this.groupBy}:${node.key}`;
      return item;
    }
    const item = new vscode.TreeItem(node.title, vscode.TreeItemCollapsibleState.None);
    item.id = `finding:${node.folder ?? ""}:${node.fingerprint}`;
    item.description = findingDescription(node, this.groupBy);
    item.tooltip = new vscode.MarkdownString(
      `**${node.title}**\n\n${node.severity} · ${node.category} · ${node.state}\n\n` +
        `${node.confirmed} of ${node.verdicts} refuters confirmed · run \`${node.runId}\` · fingerprint \`${node.fingerprint}\``,
    );
    item.iconPath = new vscode.ThemeIcon(SEVERITY_ICON[node.severity] ?? "circle-outline");
    item.contextValue = findingContext(node);
    item.command = { command: "refute.client.findings.open", title: "Open", arguments: [node] };
    return item;
  }

  getChildren(node?: Node): Node[] {
    if (!node) return groupFindings(this.rows, this.groupBy, this.filter);
    return isRow(node) ? [] : node.rows;
  }

  /** The finding a command acts on: its argument (a tree item's menu), else the selection. */
  private target(row?: FindingRow): FindingRow {
    const picked = row && isRow(row) ? row : this.view?.selection.find(isRow) ?? this.selected;
    if (!picked) throw new Error("select a finding in the Findings view first.");
    return picked;
  }

  private uri(row: FindingRow): vscode.Uri {
    const folders = this.source.folders();
    const folder = folders.find((f) => f.key === row.folder) ?? folders[0];
    if (!folder) throw new Error("open the workspace folder first.");
    return vscode.Uri.joinPath(vscode.Uri.file(folder.fsPath), row.path);
  }

  private async open(row: FindingRow): Promise<vscode.TextEditor> {
    this.selected = row;
    const position = new vscode.Position(row.line, row.character);
    return vscode.window.showTextDocument(this.uri(row), { selection: new vscode.Range(position, position), preserveFocus: true });
  }

  private async applyFix(row: FindingRow): Promise<void> {
    const editor = await this.open(row);
    const line = editor.document.lineAt(row.line).range;
    const actions = (await vscode.commands.executeCommand<vscode.CodeAction[]>(
      "vscode.executeCodeActionProvider", editor.document.uri, line, vscode.CodeActionKind.QuickFix.value,
    )) ?? [];
    const fix = actions.find((a) => a.title.startsWith("refute: apply fix") && a.title.endsWith(row.title) && a.edit);
    if (!fix?.edit) throw new Error(`"${row.title}" has no suggested fix that still applies here.`);
    if (!(await vscode.workspace.applyEdit(fix.edit))) throw new Error("VS Code refused the edit.");
    vscode.window.showInformationMessage(`refute: applied the fix of "${row.title}" (save to keep it).`);
    this.scheduleRefresh();
  }

  private async dismiss(row: FindingRow): Promise<void> {
    const reason = await vscode.window.showInputBox({
      title: `refute: dismiss "${row.title}"`,
      prompt: "Why? (recorded in .refute/dismissed.json with your name)",
      ignoreFocusOut: true,
    });
    if (reason === undefined) return;
    await this.execute(row, "refute.dismiss", { fingerprint: row.fingerprint, reason: reason.trim() || "no reason given" });
    vscode.window.showInformationMessage(`refute: dismissed "${row.title}".`);
    await this.refresh();
  }

  private async pickGroupBy(): Promise<void> {
    const picked = await pickOption(GROUP_BY, this.groupBy, "refute: group findings by");
    if (picked) this.showAs(picked, this.filter);
  }

  private async pickFilter(): Promise<void> {
    const picked = await pickOption(STATE_FILTERS, this.filter, "refute: show findings that are");
    if (picked) this.showAs(this.groupBy, picked);
  }

  /** Redraws the tree grouped by `groupBy`, showing the findings `filter` keeps. */
  private showAs(groupBy: GroupBy, filter: StateFilter): void {
    this.groupBy = groupBy;
    this.filter = filter;
    this.changed.fire(undefined);
    this.updateDescription();
  }
}

/** One of `options` from a quick pick (the `current` one marked), or undefined when dismissed. */
async function pickOption<T extends string>(options: readonly T[], current: T, title: string): Promise<T | undefined> {
  const picked = await vscode.window.showQuickPick(options.map((o) => ({ label: o, picked: o === current })), { title });
  return picked?.label as T | undefined;
}
