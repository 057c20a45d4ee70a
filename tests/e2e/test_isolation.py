"""Workspace code never runs inside refute (issue 10, tester finding 1).

A workspace holds files named after standard modules (typing.py, json.py, re.py) and
packages named like refute's dependencies (diskcache/, anthropic/, pathspec/). Each one,
if imported, writes a marker file outside the workspace. A run and a plan dry run through
the CLI, and a run through the language server, must leave no marker: the worker starts
in Python's isolated mode (-I) with its working directory outside the workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REFUTE = str(Path(sys.executable).with_name("refute"))
SHADOWS = ["typing", "json", "re", "diskcache", "anthropic", "pathspec"]


def plant_shadow_modules(ws: Path, markers: Path) -> None:
    """Each shadow module records that it was imported, then behaves like nothing at all."""
    for name in SHADOWS:
        body = (f"import os as _os\nopen(_os.path.join({str(markers)!r}, {name!r}), 'w').write('imported')\n")
        if name in ("diskcache", "anthropic", "pathspec"):
            (ws / name).mkdir(parents=True, exist_ok=True)
            (ws / name / "__init__.py").write_text(body)
        else:
            (ws / f"{name}.py").write_text(body)
    (ws / "app.py").write_text("def add(a, b):\n    return a + b\n")


def imported(markers: Path) -> list[str]:
    return sorted(p.name for p in markers.iterdir())


def _fixture(tmp_path: Path) -> Path:
    fixture = tmp_path / "answers.json"
    fixture.write_text(json.dumps([{"match": ".", "reply": {"findings": []}}]))
    return fixture


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REFUTE_")}


@pytest.fixture
def shadowed(tmp_path):
    ws, markers = tmp_path / "ws", tmp_path / "markers"
    ws.mkdir()
    markers.mkdir()
    plant_shadow_modules(ws, markers)
    return ws, markers


def test_cli_run_never_imports_workspace_modules(shadowed, tmp_path):
    ws, markers = shadowed
    proc = subprocess.run([REFUTE, "run", "audit", "--provider", "scripted", "--scripted-fixture",
                           str(_fixture(tmp_path)), "--max-concurrency", "2"],
                          cwd=ws, env=_env(), capture_output=True, text=True, timeout=120)
    assert imported(markers) == [], proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_cli_plan_dry_run_never_imports_workspace_modules(shadowed, tmp_path):
    ws, markers = shadowed
    proc = subprocess.run([REFUTE, "plan", ".", "--workflow", "audit"], cwd=ws, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert imported(markers) == [], proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_python_dash_m_entry_in_the_workspace_is_isolated_with_dash_capital_i(shadowed):
    """`python -m refute.server.cli` started in the workspace (how an editor's
    pythonPath setting starts the server) puts the working directory first on sys.path;
    the VS Code client passes -I so it does not."""
    ws, markers = shadowed
    proc = subprocess.run([sys.executable, "-I", "-m", "refute.server.cli", "--help"], cwd=ws,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert imported(markers) == []
    ts = Path(__file__).parents[2] / "editor-clients" / "vscode" / "src" / "logic" / "serverCommand.ts"
    assert '"-I", "-m", "refute.server.cli"' in ts.read_text()


def test_worker_sys_path_holds_neither_the_workspace_nor_its_working_directory(tmp_path):
    """What the worker really has on sys.path: the command line the engine builds."""
    from refute.orchestration.engine import worker_command, worker_cwd

    ws = tmp_path / "ws"
    ws.mkdir()
    cwd = worker_cwd()
    assert not str(Path(cwd).resolve()).startswith(str(ws.resolve()))
    code = "import json, sys; print(json.dumps(sys.path))"
    command = worker_command()
    assert command[:2] == [sys.executable, "-I"]
    out = subprocess.run([sys.executable, "-I", "-c", code], cwd=ws, capture_output=True, text=True, timeout=60)
    path = json.loads(out.stdout)
    assert str(ws) not in path and "" not in path and "." not in path


def test_discovery_never_runs_the_repositorys_fsmonitor_or_hooks(tmp_path):
    """`git ls-files` runs `core.fsmonitor` (seen with git 2.39); refute's git does not."""
    from refute.analysis.discover import discover

    ws, marker = tmp_path / "ws", tmp_path / "fsmonitor-ran"
    ws.mkdir()
    (ws / "app.py").write_text("x = 1\n")
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    subprocess.run(["git", "-C", str(ws), "add", "app.py"], check=True)
    subprocess.run(["git", "-C", str(ws), "config", "core.fsmonitor", f"touch {marker}; echo"], check=True)
    subprocess.run(["git", "-C", str(ws), "config", "core.hooksPath", str(ws)], check=True)
    found = discover(ws)
    assert [f.path for f in found.files] == ["app.py"]
    assert not marker.exists()
    # The same command without the hardening does run it: the test would catch a regression.
    subprocess.run(["git", "-C", str(ws), "ls-files", "-co", "--exclude-standard"], capture_output=True, check=True)
    assert marker.exists()
