// Builds the server's run scope ({paths, selection?}) from editor state. No `vscode`
// import: the extension passes plain paths and positions, so this is unit-testable.
import * as path from "node:path";

export interface Scope {
  paths: string[];
  selection?: [number, number];
}

export type ScopeKind = "workspace" | "folder" | "file" | "selection";

/** A selection as VS Code reports it: 0-based lines and characters. */
export interface EditorSelection {
  startLine: number;
  startCharacter: number;
  endLine: number;
  endCharacter: number;
}

export interface ScopeInput {
  kind: ScopeKind;
  workspaceRoot: string; // absolute path of the workspace folder
  target?: string; // absolute path of the file (file/selection) or folder (folder)
  selection?: EditorSelection;
}

export class ScopeError extends Error {}

/** Workspace-relative POSIX path of `absolute`, or a ScopeError when it is outside. */
export function relativePath(workspaceRoot: string, absolute: string): string {
  const rel = path.relative(path.resolve(workspaceRoot), path.resolve(absolute));
  if (rel === ".." || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) {
    throw new ScopeError(`${absolute} is outside the workspace folder ${workspaceRoot}`);
  }
  return rel.split(path.sep).join("/");
}

/** Inclusive 0-based line range of a selection; a selection that ends at column 0 of a
 * later line does not include that line (what a person selecting whole lines means). */
export function selectionLines(sel: EditorSelection): [number, number] {
  let start = sel.startLine;
  let end = sel.endLine;
  if (end < start) [start, end] = [end, start];
  if (end > start && sel.endCharacter === 0) end -= 1;
  return [start, end];
}

export function buildScope(input: ScopeInput): Scope {
  switch (input.kind) {
    case "workspace":
      return { paths: [] };
    case "folder": {
      if (!input.target) throw new ScopeError("No folder to audit: open a file or pick a folder in the explorer.");
      const rel = relativePath(input.workspaceRoot, input.target);
      return { paths: rel === "" ? [] : [rel] };
    }
    case "file": {
      if (!input.target) throw new ScopeError("No file to audit: open a file first.");
      return { paths: [relativePath(input.workspaceRoot, input.target)] };
    }
    case "selection": {
      if (!input.target) throw new ScopeError("No selection to audit: open a file and select some lines.");
      if (!input.selection) throw new ScopeError("No selection to audit: select some lines first.");
      return {
        paths: [relativePath(input.workspaceRoot, input.target)],
        selection: selectionLines(input.selection),
      };
    }
  }
}
