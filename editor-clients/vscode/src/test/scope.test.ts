import { test } from "node:test";
import * as assert from "node:assert/strict";
import { buildScope, relativePath, ScopeError, selectionLines } from "../logic/scope";

const root = "/home/dev/project";

test("workspace scope has no paths", () => {
  assert.deepEqual(buildScope({ kind: "workspace", workspaceRoot: root }), { paths: [] });
});

test("file scope is workspace-relative POSIX", () => {
  assert.deepEqual(buildScope({ kind: "file", workspaceRoot: root, target: `${root}/src/app/main.py` }), {
    paths: ["src/app/main.py"],
  });
});

test("folder scope of the workspace root means the whole workspace", () => {
  assert.deepEqual(buildScope({ kind: "folder", workspaceRoot: root, target: root }), { paths: [] });
  assert.deepEqual(buildScope({ kind: "folder", workspaceRoot: root, target: `${root}/src/` }), { paths: ["src"] });
});

test("a file outside the workspace is refused with both paths named", () => {
  assert.throws(
    () => buildScope({ kind: "file", workspaceRoot: root, target: "/etc/passwd" }),
    (e: unknown) => e instanceof ScopeError && /\/etc\/passwd/.test(e.message) && e.message.includes(root),
  );
  // A sibling whose name starts like the root is still outside.
  assert.throws(() => relativePath(root, "/home/dev/project-other/a.py"), ScopeError);
  // ... but a file whose name starts with two dots is inside.
  assert.equal(relativePath(root, `${root}/..hidden.py`), "..hidden.py");
});

test("selection scope carries inclusive 0-based lines", () => {
  const scope = buildScope({
    kind: "selection",
    workspaceRoot: root,
    target: `${root}/a.py`,
    selection: { startLine: 3, startCharacter: 4, endLine: 7, endCharacter: 2 },
  });
  assert.deepEqual(scope, { paths: ["a.py"], selection: [3, 7] });
});

test("a selection ending at column 0 leaves out its last line", () => {
  assert.deepEqual(selectionLines({ startLine: 2, startCharacter: 0, endLine: 5, endCharacter: 0 }), [2, 4]);
  // ... unless it is a single line.
  assert.deepEqual(selectionLines({ startLine: 2, startCharacter: 0, endLine: 2, endCharacter: 0 }), [2, 2]);
  // A backwards selection is normalised.
  assert.deepEqual(selectionLines({ startLine: 9, startCharacter: 1, endLine: 4, endCharacter: 3 }), [4, 9]);
});

test("missing editor state gives a clear error, not a crash", () => {
  assert.throws(() => buildScope({ kind: "file", workspaceRoot: root }), /open a file/);
  assert.throws(() => buildScope({ kind: "selection", workspaceRoot: root, target: `${root}/a.py` }), /select some lines/);
  assert.throws(() => buildScope({ kind: "folder", workspaceRoot: root }), /No folder/);
});
