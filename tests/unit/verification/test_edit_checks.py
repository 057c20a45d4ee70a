"""The mechanical check of an edit and the project's check runner, on their own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from refute.orchestration.verification.edits import EditError, EditsStore
from refute.orchestration.verification.mechanical import check_edit
from refute.orchestration.verification.project_check import (CheckConfig, CheckConfigError, ProjectChecker,
                                                             validate)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "m.py").write_text("import os\n\n\ndef here():\n    return os.getcwd()\n\n\ndef again():\n    return os.getcwd()\n")
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "i"]):
        subprocess.run(["git", *cmd], cwd=root, check=True)
    return root


def test_each_replacement_applies_exactly_once_and_they_compose(ws):
    twice = check_edit(ws, "m.py", [{"old": "return os.getcwd()", "new": "return str(Path.cwd())"}])
    assert not twice["ok"] and twice["stage"] == "apply" and "occurs 2 times" in twice["problem"]
    missing = check_edit(ws, "m.py", [{"old": "import os", "new": "import pathlib"}, {"old": "import os", "new": "x"}])
    assert not missing["ok"] and "replacement 2" in missing["problem"], "the second applies to the first's result"
    good = check_edit(ws, "m.py", [{"old": "import os", "new": "import os\nfrom pathlib import Path"},
                                   {"old": "def here():\n    return os.getcwd()", "new": "def here():\n    return str(Path.cwd())"}])
    assert good["ok"] and good["syntax_checked"] and "from pathlib import Path" in good["new_text"]
    # The store composes the same replacements to the same text.
    store = EditsStore(ws, ws / ".refute" / "state")
    try:
        store.propose(run_id="r", path="m.py", old_text="import os", replacement="import os\nfrom pathlib import Path")
        edit = store.propose(run_id="r", path="m.py", old_text="def here():\n    return os.getcwd()",
                             replacement="def here():\n    return str(Path.cwd())")
        assert edit.new_text == good["new_text"]
    finally:
        store.close()


def test_an_edit_that_breaks_the_syntax_is_refused_with_the_line(ws):
    result = check_edit(ws, "m.py", [{"old": "def here():", "new": "def here(:"}])
    assert not result["ok"] and result["stage"] == "parse"
    assert "m.py no longer parses as python" in result["problem"] and "line 4" in result["problem"]


def test_paths_outside_the_workspace_and_secrets_are_refused(ws):
    (ws / ".env").write_text("A=1\n")
    with pytest.raises(EditError, match="secret"):
        check_edit(ws, ".env", [{"old": "A=1", "new": "A=2"}])
    with pytest.raises(EditError):
        check_edit(ws, "../outside.py", [{"old": "a", "new": "b"}])


def test_the_check_runs_on_a_worktree_with_the_edit_and_never_touches_the_workspace(ws):
    checker = ProjectChecker(ws, ws / ".refute" / "state", "r1", CheckConfig(
        f"{sys.executable} -c \"import sys, pathlib; t = pathlib.Path(sys.argv[1]).read_text(); "
        f"print('saw', t.splitlines()[0]); sys.exit(0 if 'pathlib' in t else 3)\" {{files}}", 30))
    passed = checker.run({"m.py": "import pathlib\n"})
    assert passed["ok"] and "saw import pathlib" in passed["output"] and passed["files"] == ["m.py"]
    failed = checker.run({"m.py": "import os\n"})
    assert not failed["ok"] and failed["exit_code"] == 3
    assert (ws / "m.py").read_text().startswith("import os\n\n\ndef here")
    listed = subprocess.run(["git", "-C", str(ws), "worktree", "list"], capture_output=True, text=True).stdout
    assert len(listed.splitlines()) == 1, "every check worktree is removed"


def test_a_script_cannot_plant_new_files_or_secrets_in_the_check_worktree(ws):
    (ws / ".env").write_text("A=1\n")
    checker = ProjectChecker(ws, ws / ".refute" / "state", "r5", CheckConfig("true", 30))
    for path in ("conftest.py", ".env", "../m.py"):
        with pytest.raises(ValueError, match="run_check"):
            checker.run({path: "import os\n"})


def test_a_check_over_its_time_limit_is_killed(ws):
    checker = ProjectChecker(ws, ws / ".refute" / "state", "r2", CheckConfig("sleep 30", 0.5))
    result = checker.run({"m.py": "x = 1\n"})
    assert result["timed_out"] and not result["ok"] and result["duration_s"] < 10
    assert "longer than 0.5 s" in result["output"]


def test_credentials_never_reach_the_check(ws, monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-secret-value")
    seen = tmp_path / "env.txt"  # written by the child itself: the output's scrubbing cannot hide a leak here
    checker = ProjectChecker(ws, ws / ".refute" / "state", "r3", CheckConfig(f"env > {seen}", 30))
    assert checker.run({"m.py": "x = 1\n"})["ok"]
    assert "PATH=" in seen.read_text() and "sk-ant-test-secret-value" not in seen.read_text()


def test_validate_names_what_to_fix(ws, tmp_path):
    with pytest.raises(CheckConfigError, match="--check needs a command"):
        validate(ws, "  ", 10)
    with pytest.raises(CheckConfigError, match="--check-timeout"):
        validate(ws, "true", 0)
    (tmp_path / "nogit").mkdir()
    with pytest.raises(CheckConfigError, match="not a git repository"):
        validate(tmp_path / "nogit", "true", 10)


def test_bench_prints_one_json_object_with_the_table_figures():
    bench = Path(__file__).resolve().parents[3] / "bench" / "migrate_checks.py"
    out = subprocess.run([sys.executable, str(bench), "--files", "3", "--rounds", "1", "--json"],
                         capture_output=True, text=True, check=True).stdout
    figures = __import__("json").loads(out)
    assert figures["files"] == 3 and figures["mechanical_check_ms"] > 0 and figures["worktree_check_ms"] > 0
    assert figures["mechanical_vs_parse"] > 0 and figures["worktree_vs_in_place"] > 0


def test_a_workspace_inside_a_repository_is_checked_in_the_same_folder_of_the_worktree(tmp_path):
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "sub" / "m.py").write_text("x = 1\n")
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "i"]):
        subprocess.run(["git", *cmd], cwd=repo, check=True)
    workspace = repo / "sub"
    checker = ProjectChecker(workspace, workspace / ".refute" / "state", "r4", CheckConfig("cat {files} && pwd", 30))
    result = checker.run({"m.py": "x = 2\n"})
    assert result["ok"] and "x = 2" in result["output"] and result["output"].rstrip().endswith("/sub")
