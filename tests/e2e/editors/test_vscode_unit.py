"""The VS Code extension's own logic (scopes, settings mapping, server command, status
text, command arguments), unit-tested with node's built-in runner from this pytest run."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from editor_env import SETUP_HINT, VSCODE_EXTENSION

pytestmark = pytest.mark.editor


def test_extension_unit_tests_pass() -> None:
    node = shutil.which("node")
    assert node, "node is not on PATH"
    tsc = VSCODE_EXTENSION / "node_modules" / "typescript" / "bin" / "tsc"
    assert tsc.exists(), f"{tsc} is missing: {SETUP_HINT}"
    compiled = subprocess.run([node, str(tsc), "-p", "."], cwd=VSCODE_EXTENSION, capture_output=True, text=True, timeout=120)
    assert compiled.returncode == 0, f"tsc failed:\n{compiled.stdout}{compiled.stderr}"
    tests = sorted(str(p.relative_to(VSCODE_EXTENSION)) for p in (VSCODE_EXTENSION / "out" / "test").glob("*.test.js"))
    assert len(tests) >= 5, f"expected the compiled unit tests in out/test, found {tests}"
    proc = subprocess.run([node, "--test", *tests], cwd=VSCODE_EXTENSION, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    assert "# fail 0" in proc.stdout, proc.stdout[-2000:]
