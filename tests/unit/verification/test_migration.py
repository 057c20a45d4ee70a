"""A migration of a real package copy (32 of pip's modules) through the Engine, its worker
process, the scripted provider, the project's own check on temporary git worktrees, the
report and `refute apply --diff`. See migration_fixture.py for the scripted answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import migration_fixture as fx
from refute.orchestration.engine import Engine
from refute.orchestration.settings import EngineSettings
from refute.server.cli import main as cli

FIXTURE = Path(fx.__file__).resolve()


def worktrees(repo: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), "worktree", "list", "--porcelain"], capture_output=True,
                         text=True, check=True).stdout
    return [line.split(" ", 1)[1] for line in out.splitlines() if line.startswith("worktree ")]


@pytest.fixture
def copy(tmp_path: Path, monkeypatch) -> tuple[Path, dict]:
    repo = tmp_path / "pipcopy"
    repo.mkdir()
    (repo / ".gitignore").write_text(".refute/\n")
    roles = fx.make_copy(repo)
    roles_path = tmp_path / "roles.json"
    roles_path.write_text(json.dumps(roles))
    monkeypatch.setenv(fx.ROLES_ENV, str(roles_path))
    return repo, roles


def engine_for(repo: Path) -> Engine:
    return Engine(repo, EngineSettings(provider="scripted", scripted_fixture=f"{FIXTURE}:respond"))


CHECK = f"{sys.executable} -m py_compile {{files}} && {sys.executable} tools/check_imports.py {{files}}"


def test_migration_of_a_real_package_copy(copy, capsys):
    repo, roles = copy
    files = json.loads(roles["files"])
    assert len(files) >= 30
    head_before = subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True,
                                 text=True).stdout
    engine = engine_for(repo)
    try:
        run_id = engine.start("migrate", args={"instruction": "use pip's getLogger for module loggers"},
                              check={"command": CHECK, "timeout_s": 60})
        info = engine.wait(run_id, timeout=240)
        assert info.status == "completed", info.error
        events = [ev.to_dict() for ev in engine.events(run_id)]
        report = engine.report(run_id, "md")
    finally:
        engine.close()
    finished = [e for e in events if e["type"] == "call_finished"]
    labels = [e["label"] for e in finished]
    by_path = {entry["path"]: entry for entry in info.result["files"]}

    # The guide is produced once, saved with the run, and read from the cache by every editor.
    assert labels.count("migrate:guide") == 1
    guide = (repo / ".refute" / "state" / "runs" / run_id / "guide.md").read_text()
    assert guide == fx.GUIDE
    shared = [e for e in finished if e["label"].startswith(("migrate:edit", "migrate:review")) and not e["replayed"]]
    writes = [e for e in shared if e["usage"]["cache_write_tokens"] > 0]
    reads = [e for e in shared if e["usage"]["cache_read_tokens"] > 0]
    assert len(writes) == 1, "one call writes the shared guide prefix; every other one reads it"
    assert len(reads) == len(shared) - 1
    assert {e["label"].split(" ")[1] for e in shared if e["label"].startswith("migrate:edit")} >= set(files)

    # An unparseable edit is rejected before reviewers are paid, and goes back once.
    broken = roles["broken"]
    assert labels.count(f"migrate:edit {broken}") == 1 and labels.count(f"migrate:edit {broken} (revision)") == 1
    assert labels.count(f"migrate:review 1 {broken}") == 1, "the reviewers saw only the revision"
    failed_checks = [e for e in events if e["type"] == "edit_check_failed"]
    assert [(e["path"], e["stage"]) for e in failed_checks] == [(broken, "parse")]
    assert "no longer parses as python" in failed_checks[0]["problem"]
    assert by_path[broken]["outcome"] == "proposed" and by_path[broken]["retried"] == ["edit check"]

    # The project's check failing on one file sends that file back once, with the output.
    wrong = roles["wrong_import"]
    assert labels.count(f"migrate:edit {wrong} (revision)") == 1
    assert by_path[wrong]["outcome"] == "proposed" and by_path[wrong]["retried"] == ["check"]
    assert by_path[wrong]["check"]["ok"] and by_path[wrong]["check"]["ran"]
    always = by_path[roles["always_wrong"]]
    assert always["outcome"] == "check failed" and always["retried"] == ["check"]
    assert "no module named pip._internal.utils.log" in always["check"]["output"]
    assert always["check"]["exit_code"] == 1
    checks = [e for e in events if e["type"] == "check_finished"]
    assert sum(1 for e in checks if not e["ok"]) == 3  # wrong once, always-wrong twice
    assert by_path[roles["rejected"]]["outcome"] == "rejected"
    assert by_path[roles["unchanged"]]["outcome"] == "unchanged"
    proposed = [p for p, e in by_path.items() if e["outcome"] == "proposed"]
    assert len(proposed) == len(files) - 3

    # Checks ran on worktrees that are gone; the person's tree is untouched.
    assert worktrees(repo) == [str(repo)]
    assert subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True,
                          text=True).stdout == head_before

    # The report lists every file's outcome, the reviews of the rejected one, the check output.
    table = [line for line in report.splitlines() if line.startswith("| `")]
    listed = sorted(re.match(r"\| `([^`]+)`", line).group(1) for line in table)
    assert listed == sorted(by_path) and set(files) <= set(listed), "every file in scope, once"
    others = len(by_path) - len(files)  # .gitignore, the check tool, pip's logging helper: nothing to do
    assert (f"{len(by_path)} file(s): {len(files) - 3} proposed, {others + 1} unchanged, 1 rejected, "
            "1 check failed") in report
    assert "this module must keep the stdlib logger" in report
    assert "no module named pip._internal.utils.log" in report

    # `refute apply RUN --diff` shows unified diffs and writes nothing; a file changed since is refused.
    (repo / proposed[0]).write_text("# changed by a person\n")
    capsys.readouterr()
    assert cli(["apply", run_id, "--diff", "--workspace", str(repo)]) == 1
    out, err = capsys.readouterr()
    assert f"--- a/{proposed[1]}\n+++ b/{proposed[1]}\n" in out
    assert "-logger = logging.getLogger(__name__)\n+from pip._internal.utils.logging import getLogger\n" in out
    assert f"{proposed[0]} changed since the edit was proposed" in err
    assert out.count("--- a/") == len(proposed) - 1
    assert "nothing was written" in err
    assert subprocess.run(["git", "-C", str(repo), "diff", "--name-only"], capture_output=True,
                          text=True).stdout.split() == [proposed[0]]


def test_survey_only_then_an_edited_guide_is_used_as_is(copy):
    repo, roles = copy
    engine = engine_for(repo)
    try:
        first = engine.start("migrate", args={"instruction": "use pip's getLogger", "survey_only": True})
        info = engine.wait(first, timeout=120)
        assert info.status == "completed", info.error
        assert info.result["survey_only"] and info.result["files"] == []
        saved = repo / ".refute" / "state" / "runs" / first / "guide.md"
        shown = engine.report(first, "md")
        assert "## Migration guide (survey only)" in shown and fx.GUIDE.strip() in shown
        assert f"--guide .refute/state/runs/{first}/guide.md" in shown
        edited = saved.read_text() + "- Person's note: keep the logger names.\n"
        second = engine.start("migrate", args={"instruction": "use pip's getLogger"}, guide=edited,
                              scope={"paths": [roles["unchanged"]]})
        info = engine.wait(second, timeout=120)
        assert info.status == "completed", info.error
        labels = [e.get("label") for e in [ev.to_dict() for ev in engine.events(second)] if e["type"] == "call_finished"]
        assert not any(label.startswith(("migrate:survey", "migrate:guide")) for label in labels)
        assert (repo / ".refute" / "state" / "runs" / second / "guide.md").read_text() == edited
    finally:
        engine.close()


def test_cancel_removes_the_check_worktree_and_its_process(copy, tmp_path):
    repo, roles = copy
    marker = tmp_path / "check-started"
    # A check that never ends by itself: the cancel must kill it and remove its worktree.
    command = f"touch {marker} && exec sleep 120"
    engine = engine_for(repo)
    try:
        run_id = engine.start("migrate", args={"instruction": "use pip's getLogger"}, scope={"paths": files_of(roles)[5:6]},
                              check={"command": command, "timeout_s": 600})
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "the check never started"
        records = list((repo / ".refute" / "state" / "checks" / run_id).glob("*.json"))
        [record] = records
        data = json.loads(record.read_text())
        assert len(worktrees(repo)) == 2 and Path(data["worktree"]).is_dir()
        engine.cancel(run_id)
        info = engine.wait(run_id, timeout=30)
        assert info.status == "cancelled"
    finally:
        engine.close()
    assert worktrees(repo) == [str(repo)], "the check's worktree is removed after a cancel"
    assert not Path(data["worktree"]).exists()
    assert not (repo / ".refute" / "state" / "checks" / run_id).exists()
    assert not running(data["pid"]), "the check's process is killed with the run"


def running(pid: int) -> bool:
    """Alive and not a zombie (a killed orphan may wait for its reaper a while)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.1)
    return True


def files_of(roles: dict) -> list[str]:
    return json.loads(roles["files"])


def test_check_needs_a_git_repository_and_a_command(tmp_path, capsys):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text("x = 1\n")
    assert cli(["run", "migrate", "--workspace", str(plain), "--provider", "scripted", "--scripted-fixture",
                f"{FIXTURE}:respond", "--arg", "instruction=x", "--check", "true {files}"]) == 2
    assert "not a git repository" in capsys.readouterr().err
    assert cli(["run", "migrate", "--workspace", str(plain), "--provider", "scripted", "--scripted-fixture",
                f"{FIXTURE}:respond", "--arg", "instruction=x", "--check-timeout", "5"]) == 2
    assert "--check-timeout needs --check" in capsys.readouterr().err
    assert cli(["run", "migrate", "--workspace", str(plain), "--provider", "scripted", "--scripted-fixture",
                f"{FIXTURE}:respond", "--arg", "instruction=x", "--guide", str(tmp_path / "missing.md")]) == 2
    assert "--guide" in capsys.readouterr().err


def test_cli_guide_and_check_reach_the_run(copy, tmp_path, capsys):
    repo, roles = copy
    guide = tmp_path / "guide.md"
    guide.write_text("# Our guide\n- use pip's getLogger\n")
    target = files_of(roles)[6]
    code = cli(["run", "migrate", str(repo / target), "--workspace", str(repo), "--provider", "scripted",
                "--scripted-fixture", f"{FIXTURE}:respond", "--arg", "instruction=use pip's getLogger",
                "--guide", str(guide), "--check", CHECK, "--check-timeout", "60", "--json"])
    out = capsys.readouterr().out
    info = json.loads(out[out.index("{"):])
    assert code == 0, info
    assert info["result"]["files"] == [dict(info["result"]["files"][0], path=target, outcome="proposed")]
    assert info["result"]["files"][0]["check"]["ok"] and info["result"]["files"][0]["check"]["ran"]
    run_dir = repo / ".refute" / "state" / "runs" / info["id"]
    assert (run_dir / "guide.md").read_text() == guide.read_text()
    assert json.loads((run_dir / "check.json").read_text()) == {"command": CHECK, "timeout_s": 60.0}
