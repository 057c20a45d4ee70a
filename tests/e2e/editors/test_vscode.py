"""VS Code end to end: the packaged .vsix installed into code-server 4.100.3 (VS Code
1.100.3), in headless Chromium driven by playwright-core (editor-clients/vscode/e2e/
run.mjs), against the real `refute lsp` with the scripted provider."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from editor_env import ARTIFACTS, FIXTURES, REFUTE, REPO, SETUP_HINT, VSCODE_EXTENSION, scripted_settings

MIGRATED_SIGNATURE = "def clamp(value: float, low: float, high: float) -> float:"  # fixtures/scripted_answers.py

pytestmark = pytest.mark.editor

CODE_SERVER = REPO / ".tools" / "code-server"
VSIX = VSCODE_EXTENSION / "refute.vsix"
CHROMIUM = Path("/usr/bin/chromium")
PORT = 39517  # fixed, loopback only


def vscode_settings() -> dict[str, object]:
    server = scripted_settings()
    return {
        "refute.server.command": [str(REFUTE), "lsp"],
        "refute.provider": server["provider"],
        "refute.scriptedFixture": server["scriptedFixture"],
        "refute.approval.thresholdCalls": server["approvalThresholdCalls"],
        "refute.approval.thresholdUsd": server["approvalThresholdUsd"],
        # Keep the workbench quiet so nothing covers the panels under test.
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "extensions.ignoreRecommendations": True,
        "chat.commandCenter.enabled": False,
        "files.autoSave": "off",
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
    }


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_e2e(workspace: Path, env: dict[str, str], settings: dict[str, object], screenshot: Path,
            *extra: str) -> dict[str, object]:
    """Runs e2e/run.mjs against a fresh code-server; returns its result, steps in detail."""
    assert (CODE_SERVER / ".installed-4.100.3").exists(), f"code-server is not installed: {SETUP_HINT}"
    assert VSIX.exists(), f"{VSIX} is missing: {SETUP_HINT}"
    sources = [*(VSCODE_EXTENSION / "src").rglob("*.ts"), VSCODE_EXTENSION / "package.json"]
    stale = [str(p) for p in sources if p.stat().st_mtime > VSIX.stat().st_mtime]
    assert not stale, f"{VSIX} is older than {stale}: {SETUP_HINT}"
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: {SETUP_HINT}"
    assert port_is_free(PORT), f"port {PORT} on 127.0.0.1 is taken; stop what uses it"
    node = shutil.which("node")
    assert node, "node is not on PATH"

    if workspace.is_dir():  # a .code-workspace file carries its own settings
        (workspace / ".vscode").mkdir(exist_ok=True)
        (workspace / ".vscode" / "settings.json").write_text(json.dumps(settings, indent=2))
    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob(screenshot.stem + "*.png"):
        old.unlink()
    proc = subprocess.run(
        [node, "e2e/run.mjs", "--code-server", str(CODE_SERVER), "--vsix", str(VSIX),
         "--workspace", str(workspace), "--port", str(PORT), "--screenshot", str(screenshot),
         "--chromium", str(CHROMIUM), "--timeout-s", "240", *extra],
        cwd=VSCODE_EXTENSION, env=env, capture_output=True, text=True, timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no result from run.mjs (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    result = json.loads(lines[-1])
    detail = "\n".join(result["steps"]) + f"\nerror: {result.get('error')}\nserver log: {result.get('serverLog')}"
    (ARTIFACTS / f"{screenshot.stem}-steps.txt").write_text(detail)
    assert result["ok"] and proc.returncode == 0, detail
    assert screenshot.exists() and screenshot.stat().st_size > 10_000, "no screenshot kept"
    result["detail"] = detail
    return result


def test_audit_problems_quick_fix_status_and_ask(workspace: Path, isolated_env: dict[str, str]) -> None:
    result = run_e2e(
        workspace, isolated_env, vscode_settings(), ARTIFACTS / "vscode-audit.png",
        "--expect-problem", "Division by zero on an empty list",
        # Issue 16: every finding, lib/more.py's too, with no file open.
        "--expect-problems", "Division by zero on an empty list|File handle is never closed|join_words fails on None",
        "--fix-line", "3", "--fixed-text", "if values else 0.0",
        "--evidence-line", "7", "--evidence-tab", "file-handle-is-never-closed-",
        "--findings-title", "File handle is never closed",
        "--findings-fix-title", "join_words fails on None", "--findings-fixed-text", "words or []",
        "--ask-question", "what does average do?", "--ask-expect", "divides the sum of the values",
    )
    steps, detail = result["steps"], result["detail"]
    assert any("audit started from the command palette with no file open" in s for s in steps), detail
    assert any("problems panel:" in s and "Division by zero" in s and "never closed" in s
               and "join_words fails on None" in s for s in steps), detail
    assert (ARTIFACTS / "vscode-audit-problems.png").stat().st_size > 10_000, "the Problems panel screenshot"
    assert any("status bar items about refute: 1" in s for s in steps), detail
    assert any("evidence tab: Preview file-handle-is-never-closed-" in s for s in steps), detail
    # The Findings view: verdict badges, copy fingerprint, dismiss with a reason, filters.
    assert any(s.split(" ", 1)[1].startswith("findings view:") and "2/2 ✓" in s and "join_words fails on None" in s
               for s in steps), detail
    assert any("apply fix from the Findings view changed" in s for s in steps), detail
    assert any("filter fixed: join_words fails on None" in s and "fixed" in s.split("filter fixed:")[1]
               for s in steps), detail
    assert any("clipboard 32 chars" in s for s in steps), detail
    assert any("dismissed from the Findings view" in s for s in steps), detail
    assert any("filter dismissed:" in s and "dismissed" in s.split("filter dismissed:")[1] for s in steps), detail
    dismissed = json.loads((workspace / ".refute" / "dismissed.json").read_text())
    assert "callers never pass None" in json.dumps(dismissed), dismissed
    assert any("status bar: refute audit:" in s and "calls" in s for s in steps), detail
    assert any("ask preview shows" in s for s in steps), detail
    assert "if values else 0.0" in (workspace / "app.py").read_text()


def test_missing_server_says_so_and_opens_settings(workspace: Path, isolated_env: dict[str, str]) -> None:
    settings = dict(vscode_settings(), **{"refute.server.command": ["/nonexistent/refute", "lsp"]})
    result = run_e2e(workspace, isolated_env, settings, ARTIFACTS / "vscode-missing-server.png",
                     "--scenario", "missing-server")
    steps, detail = result["steps"], result["detail"]
    assert any("error shown:" in s and "/nonexistent/refute" in s for s in steps), detail
    assert any("Open Settings shows the refute.server settings" in s for s in steps), detail


def test_migration_edits_open_the_refactor_preview_and_apply_writes_them(workspace: Path,
                                                                         isolated_env: dict[str, str]) -> None:
    settings = dict(vscode_settings(), **{"files.refactoring.autoSave": True})
    before = (workspace / "lib" / "util.py").read_text()
    result = run_e2e(workspace, isolated_env, settings, ARTIFACTS / "vscode-migrate.png",
                     "--scenario", "migrate", "--instruction", "add type hints to clamp",
                     "--migrated-file", "lib/util.py", "--migrated-text", MIGRATED_SIGNATURE)
    steps, detail = result["steps"], result["detail"]
    assert any("unchanged on disk" in s for s in steps), detail
    assert any("refactor preview opened:" in s and "util.py" in s for s in steps), detail
    after = (workspace / "lib" / "util.py").read_text()
    assert after == before.replace("def clamp(value, low, high):", MIGRATED_SIGNATURE)
    assert (workspace / "app.py").read_text() == (FIXTURES / "project" / "app.py").read_text()


def test_multi_root_workspace_is_served_folder_by_folder(workspace: Path, isolated_env: dict[str, str],
                                                         tmp_path: Path) -> None:
    """Issue 16: a multi-root workspace (two real git folders) gets one server per folder;
    Audit Workspace audits each into its own store; the Problems panel and the Findings
    view show both folders' findings; a code action runs on its own folder's server;
    removing a folder stops its server."""
    second = tmp_path / "second"
    shutil.copytree(workspace, second)
    for folder in (workspace, second):  # real git repositories, as a person would have
        shutil.rmtree(folder / ".git")
        subprocess.run(["git", "init", "-q"], cwd=folder, check=True)
    settings = vscode_settings()
    code_workspace = tmp_path / "two.code-workspace"
    code_workspace.write_text(json.dumps({"folders": [{"path": "project"}, {"path": "second"}], "settings": settings}))
    result = run_e2e(
        code_workspace, isolated_env, settings, ARTIFACTS / "vscode-multiroot.png",
        "--scenario", "multiroot", "--folders", f"{workspace}|{second}",
        "--expect-problems", "Division by zero on an empty list|File handle is never closed|join_words fails on None",
        "--dismiss-title", "File handle is never closed", "--dismiss-line", "7",
    )
    steps, detail = result["steps"], result["detail"]
    assert any("a completed audit in each folder's store" in s for s in steps), detail
    assert any('"join_words fails on None": 2 rows' in s for s in steps), detail
    assert any("findings view:" in s and "project/lib/more.py" in s and "second/lib/more.py" in s for s in steps), detail
    assert any("dismissed through second's server only" in s for s in steps), detail
    assert "File handle is never closed" in (second / ".refute" / "dismissed.json").read_text()
    assert not (workspace / ".refute" / "dismissed.json").exists()
    assert any("folder second removed:" in s for s in steps), detail


def test_resume_with_a_larger_budget_and_continue_audit(workspace: Path, isolated_env: dict[str, str]) -> None:
    """Issue 12: a run the budget stopped is resumed from its notification with a typed
    budget. Issue 13: an audit that stopped early is continued from its notification."""
    settings = dict(vscode_settings(), **{"refute.budget.tokens": 1500, "refute.maxCalls": 6, "refute.maxConcurrency": 1})
    result = run_e2e(workspace, isolated_env, settings, ARTIFACTS / "vscode-budget-continue.png",
                     "--scenario", "budget-continue", "--ask-question", "what does average do?",
                     "--budget", "tokens=500000")
    steps, detail = result["steps"], result["detail"]
    assert any("budget box prefilled: tokens=3000" in s for s in steps), detail
    assert any('resumed with tokens=500000: completed, budget {"tokens":500000' in s for s in steps), detail
    assert any("audit 1 " in s and "complete=false" in s for s in steps), detail
    assert any("complete after" in s for s in steps), detail
