"""`refute run audit --since REF` on a fixture git history, `--continue RUN` after a
partial run (through the engine's worker process), `plan --json` names, and bad input."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from refute.server.cli import main as cli

FIXTURE = textwrap.dedent('''
    def respond(request):
        label = request.get("label") or ""
        if label.startswith("audit:find"):
            path = label.split(" ", 1)[1]
            return {"findings": [{"path": path, "quote": "return x * 2", "title": "doubles", "explanation": "x",
                                  "severity": "warning", "category": "bug"}]}
        return {"verdict": "confirmed", "reason": "holds", "evidence": "return x * 2"}
''')


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for i in range(8):
        (root / f"m{i}.py").write_text(f"def f{i}(x):\n    y = x + {i}\n    return x * 2\n")
    (root / "README.md").write_text("# fixture\n")
    (root / ".gitignore").write_text(".refute/state/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    (tmp_path / "fixture.py").write_text(FIXTURE)
    return root


def scripted(repo: Path) -> list[str]:
    return ["--workspace", str(repo), "--provider", "scripted", "--scripted-fixture",
            f"{repo.parent / 'fixture.py'}:respond", "--json"]


def run_json(capsys, argv: list[str]) -> tuple[int, dict]:
    capsys.readouterr()
    code = cli(argv)
    captured = capsys.readouterr()
    out = captured.out
    assert "{" in out, f"exit {code}: {captured.err}"
    return code, json.loads(out[out.index("{"):])


def finder_labels(repo: Path, run_id: str) -> set[str]:
    events = (repo / ".refute" / "state" / "runs" / run_id / "events.jsonl").read_text().splitlines()
    return {json.loads(e).get("label") for e in events
            if json.loads(e).get("type") == "call_finished" and (json.loads(e).get("label") or "").startswith("audit:find")}


def test_since_audits_only_what_changed_since_the_ref(repo, capsys):
    git(repo, "tag", "v1")
    (repo / "m3.py").write_text("def f3(x):\n    y = x + 33\n    return x * 2\n")
    (repo / "new.py").write_text("def g(x):\n    return x * 2\n")
    code, info = run_json(capsys, ["run", "audit", "--since", "v1"] + scripted(repo))
    assert code == 0 and info["status"] == "completed", info
    assert info["scope"]["since"] == "v1"
    assert finder_labels(repo, info["id"]) == {"audit:find m3.py", "audit:find new.py"}


def test_continue_covers_what_a_partial_run_left(repo, capsys, monkeypatch):
    monkeypatch.setenv("REFUTE_MAX_CALLS", "10")  # 8 units x 3 calls: a run of 10 covers about two
    code, first = run_json(capsys, ["run", "audit"] + scripted(repo))
    assert code == 0 and first["status"] == "completed" and not first["result"]["complete"], first
    covered, previous, runs = first["result"]["covered"], first["id"], 1
    while True:
        code, info = run_json(capsys, ["run", "audit", "--continue", previous] + scripted(repo))
        assert code == 0 and info["status"] == "completed", info
        assert info["args"]["continues"] == previous and info["args"]["skip_covered"] is True
        covered += info["result"]["covered"]
        previous, runs = info["id"], runs + 1
        if info["result"]["complete"]:
            break
        assert runs < 8
    assert covered == 8
    # After an edit to a file already audited, a continuation searches only that file.
    (repo / "m5.py").write_text("def f5(x):\n    y = x + 55\n    return x * 2\n")
    code, info = run_json(capsys, ["run", "audit", "--continue", previous] + scripted(repo))
    assert code == 0 and info["result"]["covered"] == 1 and info["result"]["skipped_covered"] == 7
    assert finder_labels(repo, info["id"]) == {"audit:find m5.py"}


def test_bad_since_and_continue_input_exit_2_naming_the_option(repo, capsys):
    assert cli(["run", "audit", "--since", "no-such-ref"] + scripted(repo)) == 2
    assert "--since" in capsys.readouterr().err
    assert cli(["run", "audit", str(repo / "m1.py"), "--continue", "abc"] + scripted(repo)) == 2
    assert "--continue" in capsys.readouterr().err


def test_plan_json_carries_the_forecast_under_stable_names(repo, capsys):
    capsys.readouterr()
    assert cli(["plan", str(repo), "--workflow", "audit", "--json", "--arg", "candidate_rate=2"]) == 0
    workflow = json.loads(capsys.readouterr().out)["workflow"]
    assert set(workflow["forecast"]) == {"cases", "runs_needed", "runs"}
    for case in ("low", "expected", "high"):
        assert set(workflow["forecast"]["cases"][case]) == {
            "calls", "finder_calls", "verification_calls", "candidates", "candidate_rate",
            "refuter_calls_per_candidate", "input_tokens", "output_tokens", "tokens", "cost_usd"}
    assert workflow["candidate_rate"]["source"] == "argument" and workflow["candidate_rate"]["value"] == 2
    assert workflow["forecast"]["cases"]["expected"]["calls"] == 8 + 37  # 8 finders + 8 x 2 x 2.255
    assert workflow["excluded"] == [{"path": ".gitignore", "reason": "config (.gitignore)"},
                                    {"path": "README.md", "reason": "docs (.md)"}]
    assert workflow["forecast"]["runs"][0]["files"] == [f"m{i}.py" for i in range(8)]
