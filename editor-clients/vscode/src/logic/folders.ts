// Multi-root workspaces, served folder by folder (issue 16): one language server per
// workspace folder, each with its own root and .refute store. This module decides,
// without VS Code, which folders get a server, which server a file belongs to, and how a
// server command is routed back to the server that offered it.
import * as path from "node:path";

export interface FolderLike {
  /** The folder's URI as a string: the key every map in the extension uses. */
  key: string;
  fsPath: string;
  name: string;
}

function normalise(fsPath: string, sep: string): string {
  return fsPath.length > 1 && fsPath.endsWith(sep) ? fsPath.slice(0, -1) : fsPath;
}

/** True when `fsPath` is `folder` or lies inside it (by path segments: /a/b2 is not in /a/b). */
export function isInside(fsPath: string, folder: string, sep: string = path.sep): boolean {
  const file = normalise(fsPath, sep);
  const dir = normalise(folder, sep);
  return file === dir || file.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** The folders that get a server: a folder inside another workspace folder is served by
 * the outer one's server (its files are already that server's; two servers must not
 * both report them). Order is kept. */
export function servedFolders<T extends FolderLike>(folders: readonly T[], sep: string = path.sep): T[] {
  return folders.filter((f) => !folders.some((outer) => outer.key !== f.key && outer.fsPath !== f.fsPath
    && isInside(f.fsPath, outer.fsPath, sep)));
}

/** The served folder holding `fsPath`, or undefined (a file outside every folder). */
export function folderOf<T extends FolderLike>(fsPath: string, served: readonly T[], sep: string = path.sep): T | undefined {
  let best: T | undefined;
  for (const folder of served) {
    if (isInside(fsPath, folder.fsPath, sep) && (!best || folder.fsPath.length > best.fsPath.length)) best = folder;
  }
  return best;
}

/** The documentSelector of one folder's client: files under that folder only, as an LSP
 * RelativePattern (so a folder name with glob characters such as [ or { needs no escaping). */
export function folderSelector(folderUri: string): { scheme: string; pattern: { baseUri: string; pattern: string } }[] {
  return [{ scheme: "file", pattern: { baseUri: folderUri, pattern: "**/*" } }];
}

/** The VS Code command every server command (a code action's or code lens's) is routed
 * through: vscode-languageclient would register the server's command ids once per client,
 * and a second client's registration fails, so the extension registers them itself. */
export const ROUTED_COMMAND = "refute.client.serverCommand";

export interface CommandLike {
  title: string;
  command: string;
  arguments?: unknown[];
  tooltip?: string;
}

/** A server command offered by the server of `folderKey`, rewritten to run there. */
export function routeCommand<C extends CommandLike>(command: C, folderKey: string): C {
  if (command.command === ROUTED_COMMAND) return command;
  return { ...command, command: ROUTED_COMMAND, arguments: [folderKey, command.command, ...(command.arguments ?? [])] };
}

/** The inverse of routeCommand: which folder, which server command, which arguments. */
export function unrouteArguments(args: unknown[]): { folderKey: string; command: string; arguments: unknown[] } {
  const [folderKey, command, ...rest] = args;
  if (typeof folderKey !== "string" || typeof command !== "string") {
    throw new Error(`${ROUTED_COMMAND} needs a folder and a server command, got ${JSON.stringify(args).slice(0, 200)}`);
  }
  return { folderKey, command, arguments: rest };
}

/** How a run, finding or folder is labelled: by folder name only when there are several. */
export function withFolder(label: string, folderName: string | undefined, folderCount: number): string {
  return folderCount > 1 && folderName ? `${folderName}: ${label}` : label;
}
