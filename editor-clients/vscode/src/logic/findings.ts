// The Findings view's model, without VS Code: rows from the server's `refute.findings`
// command, grouped by severity, file, category or run, filtered by review state, with
// a verdict badge per finding. extension.ts turns it into a TreeDataProvider.

export interface FindingRow {
  fingerprint: string;
  path: string;
  line: number; // 0-based, where the finding is now
  character: number;
  severity: string;
  category: string;
  title: string;
  runId: string;
  workflow: string;
  state: string; // new | accepted | dismissed | fixed | stale
  confirmed: number;
  verdicts: number;
  costUsd: number;
  hasFix: boolean;
  provider?: string;
  /** Multi-root: the workspace folder (URI) whose server reported it, and its name when
   * the workspace has several folders (shown before the path). */
  folder?: string;
  folderName?: string;
}

/** The path as the view shows it: prefixed by the folder's name in a multi-root workspace. */
export function displayPath(row: FindingRow): string {
  return row.folderName ? `${row.folderName}/${row.path}` : row.path;
}

export type GroupBy = "severity" | "file" | "category" | "run";
export type StateFilter = "new" | "dismissed" | "fixed" | "all";

export const GROUP_BY: GroupBy[] = ["severity", "file", "category", "run"];
export const STATE_FILTERS: StateFilter[] = ["new", "dismissed", "fixed", "all"];

export interface FindingGroup {
  key: string;
  label: string;
  rows: FindingRow[];
}

const SEVERITY_ORDER = ["error", "warning", "info", "information", "hint"];

/** Which rows a filter keeps: "new" is what still needs a look (new, accepted, stale). */
export function matchesFilter(row: FindingRow, filter: StateFilter): boolean {
  if (filter === "all") return true;
  if (filter === "new") return row.state === "new" || row.state === "accepted" || row.state === "stale";
  return row.state === filter;
}

function groupKey(row: FindingRow, by: GroupBy): string {
  switch (by) {
    case "severity":
      return row.severity || "warning";
    case "file":
      return displayPath(row);
    case "category":
      return row.category || "finding";
    case "run":
      return row.runId;
  }
}

function groupRank(key: string, by: GroupBy): [number, string] {
  if (by === "severity") {
    const i = SEVERITY_ORDER.indexOf(key);
    return [i < 0 ? SEVERITY_ORDER.length : i, key];
  }
  if (by === "run") return [0, invert(key)]; // run ids start with a UTC timestamp: newest first
  return [0, key];
}

function invert(text: string): string {
  return Array.from(text, (c) => String.fromCharCode(0xffff - c.charCodeAt(0))).join("");
}

export function groupFindings(rows: FindingRow[], by: GroupBy, filter: StateFilter): FindingGroup[] {
  const groups = new Map<string, FindingRow[]>();
  for (const row of rows) {
    if (!matchesFilter(row, filter)) continue;
    const key = groupKey(row, by);
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(row);
  }
  const out: FindingGroup[] = [];
  for (const [key, list] of groups) {
    list.sort((a, b) => displayPath(a).localeCompare(displayPath(b)) || a.line - b.line || a.title.localeCompare(b.title));
    out.push({ key, label: `${key} (${list.length})`, rows: list });
  }
  out.sort((a, b) => {
    const [ra, ka] = groupRank(a.key, by);
    const [rb, kb] = groupRank(b.key, by);
    return ra - rb || ka.localeCompare(kb);
  });
  return out;
}

/** "2/2 ✓", "1/2", or "unverified": how the refuters voted. */
export function verdictBadge(row: FindingRow): string {
  if (!row.verdicts) return "unverified";
  return row.confirmed === row.verdicts ? `${row.confirmed}/${row.verdicts} ✓` : `${row.confirmed}/${row.verdicts}`;
}

/** The grey text after a finding's title: verdicts, where, state when not new, cost. */
export function findingDescription(row: FindingRow, by: GroupBy): string {
  const parts = [verdictBadge(row)];
  if (by !== "file") parts.push(`${displayPath(row)}:${row.line + 1}`);
  else parts.push(`line ${row.line + 1}`);
  if (row.state !== "new") parts.push(row.state);
  if (row.costUsd > 0) parts.push(`$${row.costUsd < 0.01 ? row.costUsd.toFixed(4) : row.costUsd.toFixed(2)}`);
  if (row.provider === "scripted") parts.push("scripted");
  return parts.join(" · ");
}

/** contextValue for menus: which actions a finding offers. */
export function findingContext(row: FindingRow): string {
  return `refute.finding.${row.state}${row.hasFix && row.state !== "fixed" ? ".fixable" : ""}`;
}

export function parseFindings(result: unknown): FindingRow[] {
  if (!Array.isArray(result)) return [];
  return result.filter((r): r is FindingRow => typeof r === "object" && r !== null && typeof (r as FindingRow).fingerprint === "string");
}
