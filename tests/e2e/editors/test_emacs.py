"""Emacs end to end: real Emacs (Debian's emacs-nox, >= 28) with eglot, in batch mode,
configured by the snippet of docs/editors.md exactly as written, against the real
`refute lsp` (scripted provider). The Lisp side (emacs_e2e.el) performs and checks each
step: audit through `M-x refute-audit`, live progress from `refute/runUpdate`,
diagnostics in the buffer and for a file never visited, a code action applied, the
evidence page."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from editor_env import HERE, REFUTE, REPO, assert_fix_saved, assert_steps, dump, scenario_steps, scripted_settings

pytestmark = pytest.mark.editor

EMACS = shutil.which("emacs")
DOCS = REPO / "docs" / "editors.md"


def documented_snippet() -> str:
    text = DOCS.read_text()
    found = re.search(r"<!-- emacs-snippet:[^>]*-->\s*```elisp\n(.*?)```", text, re.S)
    assert found, f"no emacs snippet marked in {DOCS}"
    return found.group(1)


def run_emacs(scenario: str, workspace: Path, env: dict[str, str], tmp_path: Path,
              settings: dict[str, object]) -> str:
    """Runs emacs_e2e.el's scenario with the documented snippet; returns its step log."""
    if EMACS is None:
        pytest.fail("emacs is missing: run `bash scripts/setup-editors.sh` (installs emacs-nox and elpa-eglot)")
    snippet = documented_snippet()
    assert "/path/to/refute/editor-clients/emacs" in snippet
    snippet_file = tmp_path / "init-snippet.el"
    snippet_file.write_text(snippet.replace("/path/to/refute", str(REPO)))
    log = tmp_path / "emacs.log"
    env = dict(env, HOME=str(tmp_path / "home"), REFUTE_E2E_SNIPPET=str(snippet_file),
               REFUTE_E2E_ROOT=str(workspace), REFUTE_E2E_CMD=dump([str(REFUTE), "lsp"]),
               REFUTE_E2E_SETTINGS=dump(settings), REFUTE_E2E_LOG=str(log), REFUTE_E2E_SCENARIO=scenario)
    (tmp_path / "home").mkdir()
    proc = subprocess.run([EMACS, "--batch", "-l", str(HERE / "emacs_e2e.el")], env=env, cwd=workspace,
                          capture_output=True, text=True, timeout=150, stdin=subprocess.DEVNULL)
    return scenario_steps(proc, log, f"emacs-{scenario}.log", "emacs")


def test_emacs_snippet_audit_diagnostics_and_a_code_action(workspace: Path, isolated_env: dict[str, str],
                                                          tmp_path: Path) -> None:
    steps = run_emacs("audit", workspace, isolated_env, tmp_path, scripted_settings())
    assert_steps(steps, "progress while running: refute audit running",
                 "unvisited file: lib/more.py has 1 diagnostic(s)",
                 "code action applied: return total / len(values) if values else 0.0")
    assert_fix_saved(workspace)


def test_emacs_resume_with_a_larger_budget(workspace: Path, isolated_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 12: M-x refute-resume-with-budget continues a run the budget stopped."""
    steps = run_emacs("budget", workspace, isolated_env, tmp_path, scripted_settings(budgetTokens=1500))
    assert_steps(steps, "budget reached, told:", "resumed: completed, budget 500000 tokens")


def test_emacs_continue_audit(workspace: Path, isolated_env: dict[str, str], tmp_path: Path) -> None:
    """Issue 13: M-x refute-continue covers what a partial audit left."""
    steps = run_emacs("continue", workspace, isolated_env, tmp_path, scripted_settings(maxCalls=6, maxConcurrency=1))
    assert_steps(steps, "complete=nil", "complete after")


def test_helix_snippet_is_valid_toml_naming_the_server() -> None:
    import tomllib

    found = re.search(r"Helix \(`languages.toml`\):\s*```toml\n(.*?)```", DOCS.read_text(), re.S)
    assert found, "no Helix snippet in docs/editors.md"
    config = tomllib.loads(found.group(1))
    server = config["language-server"]["refute"]
    assert server["command"] == "refute" and server["args"] == ["lsp"]
    assert isinstance(server["config"], dict)  # Helix sends it as initializationOptions
    assert any("refute" in lang["language-servers"] for lang in config["language"])
