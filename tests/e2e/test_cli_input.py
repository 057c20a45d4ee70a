"""CLI input is validated before anything starts (issue 10): exit 2, a message naming the
option (or variable, or workflow argument) and what it accepts, no traceback, nothing
created or run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REFUTE = str(Path(sys.executable).with_name("refute"))


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text("def add(a, b):\n    return a + b\n")
    fixture = tmp_path / "answers.json"
    fixture.write_text(json.dumps([{"match": ".", "reply": {"findings": []}}]))
    return root


def refute(ws: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("REFUTE_")}
    base.update(env or {})
    fixture = str(ws.parent / "answers.json")
    return subprocess.run([REFUTE, *argv, "--provider", "scripted", "--scripted-fixture", fixture], cwd=ws,
                          env=base, capture_output=True, text=True, timeout=60)


def test_a_nonexistent_workspace_is_an_error_and_creates_nothing(ws, tmp_path):
    missing = tmp_path / "nowhere"
    out = refute(ws, "run", "audit", "--workspace", str(missing))
    assert out.returncode == 2, out.stderr
    assert "--workspace" in out.stderr and "does not exist" in out.stderr
    assert not missing.exists()


@pytest.mark.parametrize("argv, names", [
    (["--max-concurrency", "0"], ["--max-concurrency", "1 to 16"]),
    (["--max-concurrency", "17"], ["--max-concurrency", "1 to 16"]),
    (["--budget-usd", "nan"], ["--budget-usd", "finite"]),
    (["--budget-usd", "-1"], ["--budget-usd", "above 0"]),
    (["--budget-usd", "0"], ["--budget-usd", "above 0"]),  # one budget rule for run, resume and eval
    (["--budget-tokens", "0"], ["--budget-tokens", "at least 1"]),
    (["--arg", "novalue"], ["--arg", "KEY=VALUE"]),
    (["--arg", "instruction=5"], ["instruction", "string"]),
    (["--arg", "instrucion=x"], ["unknown argument", "instrucion", "instruction"]),
])
def test_bad_options_exit_2_naming_the_option(ws, argv, names):
    out = refute(ws, "run", "migrate", *argv)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    for name in names:
        assert name in out.stderr, out.stderr
    assert not (ws / ".refute" / "state" / "runs").exists() or not any((ws / ".refute" / "state" / "runs").iterdir())


def test_a_bad_environment_variable_names_itself(ws):
    out = refute(ws, "run", "audit", env={"REFUTE_MAX_CONCURRENCY": "abc"})
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "REFUTE_MAX_CONCURRENCY='abc'" in out.stderr and "whole number" in out.stderr


def test_plan_checks_workflow_arguments_too(ws):
    out = subprocess.run([REFUTE, "plan", ".", "--workflow", "migrate", "--arg", "instruction=5"], cwd=ws,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "'instruction' must be a string" in out.stderr, out.stderr


def test_a_path_outside_the_workspace_is_exit_2(ws, tmp_path):
    out = refute(ws, "run", "audit", str(tmp_path))
    assert out.returncode == 2 and "outside the workspace" in out.stderr, out.stderr


def test_a_required_workflow_argument_is_named_before_the_run(ws):
    out = refute(ws, "run", "migrate")
    assert out.returncode == 2 and "'instruction' is required" in out.stderr, out.stderr
    assert not (ws / ".refute" / "state" / "runs").exists() or not any((ws / ".refute" / "state" / "runs").iterdir())
