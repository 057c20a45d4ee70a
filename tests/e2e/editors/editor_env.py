"""Paths and helpers shared by the editor end-to-end tests (imported by conftest.py and
the test modules; a plain module because tests/ is not a package)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
VENV_BIN = Path(sys.executable).parent
REFUTE = VENV_BIN / "refute"
NVIM = VENV_BIN / "nvim"
NEOVIM_PLUGIN = REPO / "editor-clients" / "neovim"
VSCODE_EXTENSION = REPO / "editor-clients" / "vscode"
ARTIFACTS = REPO / "test-artifacts"
SETUP_HINT = "run `bash scripts/setup.sh --editors` (scripts/test.sh does it)"


def scripted_settings(**extra: object) -> dict[str, object]:
    """Server settings for the scripted provider; approval thresholds high enough that
    no run stops to ask."""
    settings: dict[str, object] = {
        "provider": "scripted",
        "scriptedFixture": f"{FIXTURES / 'scripted_answers.py'}:answer",
        "approvalThresholdCalls": 100000,
        "approvalThresholdUsd": 1000.0,
    }
    settings.update(extra)
    return settings


def dump(value: object) -> str:
    return json.dumps(value)


def scenario_steps(proc: subprocess.CompletedProcess[str], log: Path, artifact: str, what: str) -> str:
    """The step log a Lua or Lisp scenario wrote to `log`, kept as test-artifacts/`artifact`;
    fails with the log and stderr unless `what` exited 0 and its last step is PASS."""
    steps = log.read_text() if log.exists() else "(no log written)"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / artifact).write_text(steps)
    assert proc.returncode == 0, f"{what} failed:\n{steps}\nstderr:\n{proc.stderr[-3000:]}"
    assert steps.rstrip().endswith("PASS"), steps
    return steps


def assert_steps(steps: str, *expected: str) -> None:
    """Every `expected` text is in the step log (the log is shown when one is not)."""
    missing = [text for text in expected if text not in steps]
    assert not missing, f"steps {missing} are missing from:\n{steps}"


def assert_fix_saved(workspace: Path) -> None:
    """The division fix of the audit scenarios reached app.py on disk."""
    assert "if values else 0.0" in (workspace / "app.py").read_text()
