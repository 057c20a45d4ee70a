import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { findExecutable, isExecutableFile, resolveServerLaunch, ServerNotFound } from "../logic/serverCommand";

const exists = (files: string[]) => (f: string) => files.includes(f);

test("an explicit command wins and keeps its arguments", () => {
  const launch = resolveServerLaunch(
    { command: ["/venv/bin/refute", "lsp", "--log-level", "debug"], pythonPath: "/usr/bin/python3" },
    "/usr/bin",
    exists(["/venv/bin/refute", "/usr/bin/refute"]),
  );
  assert.deepEqual(launch, { command: "/venv/bin/refute", args: ["lsp", "--log-level", "debug"], source: "refute.server.command" });
});

test("a command name is looked up on PATH", () => {
  const launch = resolveServerLaunch({ command: ["refute", "lsp"] }, "/a:/b", exists(["/b/refute"]));
  assert.equal(launch.command, "/b/refute");
});

test("pythonPath starts the server module", () => {
  const launch = resolveServerLaunch({ command: [], pythonPath: "/venv/bin/python" }, "", exists(["/venv/bin/python"]));
  assert.deepEqual(launch, { command: "/venv/bin/python", args: ["-I", "-m", "refute.server.cli", "lsp"], source: "refute.server.pythonPath" });
});

test("falls back to refute on PATH", () => {
  const launch = resolveServerLaunch({}, "/x:/opt/bin", exists(["/opt/bin/refute"]));
  assert.deepEqual(launch, { command: "/opt/bin/refute", args: ["lsp"], source: "PATH" });
});

test("a missing server says what to set", () => {
  assert.throws(() => resolveServerLaunch({}, "/x", exists([])), (e: unknown) =>
    e instanceof ServerNotFound && /refute\.server\.command/.test(e.message) && /PATH/.test(e.message));
  assert.throws(() => resolveServerLaunch({ command: ["/nope/refute"] }, "/x", exists([])), /\/nope\/refute/);
  assert.throws(() => resolveServerLaunch({ pythonPath: "/nope/python" }, "/x", exists([])), /pythonPath/);
});

test("only executable regular files count", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "refute-ext-"));
  const script = path.join(dir, "refute");
  fs.writeFileSync(script, "#!/bin/sh\n");
  assert.equal(isExecutableFile(script), false);
  fs.chmodSync(script, 0o755);
  assert.equal(isExecutableFile(script), true);
  assert.equal(isExecutableFile(dir), false);
  assert.equal(findExecutable("refute", `/nonexistent${path.delimiter}${dir}`), script);
  fs.rmSync(dir, { recursive: true });
});
