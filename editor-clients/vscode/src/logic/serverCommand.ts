// Decides how to start `refute lsp`: an explicit command, a Python interpreter, or
// `refute` on PATH. Pure apart from the injected executable check, so unit-testable.
import * as fs from "node:fs";
import * as path from "node:path";

export interface ServerLaunch {
  command: string;
  args: string[];
  source: "refute.server.command" | "refute.server.pythonPath" | "PATH";
}

export interface LaunchSettings {
  command?: readonly string[];
  pythonPath?: string;
}

export type IsExecutable = (file: string) => boolean;

export function isExecutableFile(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Absolute path of `name` found on `pathEnv`, or undefined. Names with a slash are
 * checked as given. */
export function findExecutable(
  name: string,
  pathEnv: string | undefined,
  isExecutable: IsExecutable = isExecutableFile,
  platform: NodeJS.Platform = process.platform,
): string | undefined {
  if (name.includes("/") || name.includes("\\")) return isExecutable(name) ? name : undefined;
  const exts = platform === "win32" ? ["", ".exe", ".cmd", ".bat"] : [""];
  for (const dir of (pathEnv ?? "").split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

export class ServerNotFound extends Error {}

/** The server launch for these settings, or ServerNotFound saying what was tried. */
export function resolveServerLaunch(
  settings: LaunchSettings,
  pathEnv: string | undefined,
  isExecutable: IsExecutable = isExecutableFile,
): ServerLaunch {
  const command = (settings.command ?? []).filter((part) => part !== "");
  if (command.length > 0) {
    const found = findExecutable(command[0], pathEnv, isExecutable);
    if (!found) {
      throw new ServerNotFound(`refute.server.command: "${command[0]}" is not an executable file or on PATH.`);
    }
    return { command: found, args: command.slice(1), source: "refute.server.command" };
  }
  if (settings.pythonPath) {
    const found = findExecutable(settings.pythonPath, pathEnv, isExecutable);
    if (!found) {
      throw new ServerNotFound(`refute.server.pythonPath: "${settings.pythonPath}" is not an executable file or on PATH.`);
    }
    // -I: isolated mode, so a workspace file named like a module (typing.py) is never imported.
    return { command: found, args: ["-I", "-m", "refute.server.cli", "lsp"], source: "refute.server.pythonPath" };
  }
  const onPath = findExecutable("refute", pathEnv, isExecutable);
  if (!onPath) {
    throw new ServerNotFound(
      "The refute language server was not found: `refute` is not on PATH. Install refute " +
        "(pip install refute) or set refute.server.command or refute.server.pythonPath.",
    );
  }
  return { command: onPath, args: ["lsp"], source: "PATH" };
}
