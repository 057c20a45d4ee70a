import { test } from "node:test";
import * as assert from "node:assert/strict";
import { CommandLike, folderOf, folderSelector, isInside, ROUTED_COMMAND, routeCommand, servedFolders, unrouteArguments, withFolder } from "../logic/folders";

const f = (name: string, fsPath: string) => ({ key: `file://${fsPath}`, fsPath, name });

test("a path is inside a folder by whole segments", () => {
  assert.equal(isInside("/ws/a/x.py", "/ws/a", "/"), true);
  assert.equal(isInside("/ws/a", "/ws/a/", "/"), true);
  assert.equal(isInside("/ws/ab/x.py", "/ws/a", "/"), false);
  assert.equal(isInside("/ws", "/ws/a", "/"), false);
});

test("each top folder gets a server; a nested folder is its outer folder's", () => {
  const a = f("a", "/ws/a"), b = f("b", "/ws/b"), nested = f("sub", "/ws/a/sub"), ab = f("ab", "/ws/ab");
  assert.deepEqual(servedFolders([a, nested, b, ab], "/"), [a, b, ab]);
  assert.deepEqual(servedFolders([a], "/"), [a]);
  assert.deepEqual(servedFolders([], "/"), []);
});

test("a file belongs to the served folder that holds it, else to none", () => {
  const a = f("a", "/ws/a"), b = f("b", "/ws/b");
  assert.equal(folderOf("/ws/b/lib/util.py", [a, b], "/"), b);
  assert.equal(folderOf("/ws/a/app.py", [a, b], "/"), a);
  assert.equal(folderOf("/ws/ab/app.py", [a, b], "/"), undefined);
  assert.equal(folderOf("/elsewhere/app.py", [a, b], "/"), undefined);
});

test("a folder's documentSelector is a relative pattern: no glob escaping of its name", () => {
  assert.deepEqual(folderSelector("file:///ws/%5Bodd%5D%20name"), [
    { scheme: "file", pattern: { baseUri: "file:///ws/%5Bodd%5D%20name", pattern: "**/*" } },
  ]);
});

test("a server command is routed to the folder that offered it, and back", () => {
  const dismiss = { title: "Dismiss finding", command: "refute.dismiss", arguments: [{ fingerprint: "fp1" }] };
  const routed = routeCommand(dismiss, "file:///ws/b");
  assert.deepEqual(routed, { title: "Dismiss finding", command: ROUTED_COMMAND, arguments: ["file:///ws/b", "refute.dismiss", { fingerprint: "fp1" }] });
  assert.equal(routeCommand(routed, "file:///ws/a"), routed, "routing twice keeps the first folder");
  assert.deepEqual(unrouteArguments(routed.arguments!), { folderKey: "file:///ws/b", command: "refute.dismiss", arguments: [{ fingerprint: "fp1" }] });
  assert.deepEqual(routeCommand<CommandLike>({ title: "Plan", command: "refute.plan" }, "k").arguments, ["k", "refute.plan"]);
  assert.throws(() => unrouteArguments([{ fingerprint: "fp1" }]), /needs a folder and a server command/);
});

test("labels name the folder only in a multi-root workspace", () => {
  assert.equal(withFolder("audit — completed", "api", 2), "api: audit — completed");
  assert.equal(withFolder("audit — completed", "api", 1), "audit — completed");
});
