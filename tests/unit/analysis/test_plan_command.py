"""`refute plan`: human and JSON output, narrowing, errors, workflow estimates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from refute.server.cli import main as cli_main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "languages"


def run(argv: list[str]) -> int:
    """The real entry point: option errors are argparse's (exit 2, named on stderr)."""
    return cli_main(argv)


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURES, root / "src")
    (root / ".refute").mkdir()
    (root / "src" / "data.bin").write_bytes(b"\x00\x01")
    (root / "src" / "old.py").write_bytes(b"name = '\xe9'\n")
    (root / "node_modules" / "x").mkdir(parents=True)
    (root / "node_modules" / "x" / "index.js").write_text("module.exports = 1;\n")
    return root


def test_json_output(workspace, capsys):
    assert run(["plan", "--workspace", str(workspace), "--json", "--max-unit-tokens", "60", "--top", "3"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["files"] == len(list(FIXTURES.iterdir()))
    assert out["max_unit_tokens"] == 60
    assert out["units"] == sum(v["units"] for v in out["by_language"].values())
    assert out["tokens"] == sum(v["tokens"] for v in out["by_language"].values())
    assert set(out["by_language"]) == {"python", "javascript", "typescript", "tsx", "go", "rust", "java", "c",
                                       "cpp", "csharp", "ruby", "php"}
    assert out["skipped_by_reason"] == {"binary": ["src/data.bin"], "not UTF-8": ["src/old.py"],
                                        "vendored": ["node_modules/"]}
    assert len(out["largest_units"]) == 3
    assert out["largest_units"][0]["tokens"] >= out["largest_units"][-1]["tokens"]
    assert all(u["tokens"] <= 60 for u in out["largest_units"])


def test_list_units(workspace, capsys):
    assert run(["plan", "src/queue.go", "--workspace", str(workspace), "--json", "--max-unit-tokens", "60",
                "--list-units"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["unit_list"]) == out["units"] > 1
    assert {u["path"] for u in out["unit_list"]} == {"src/queue.go"}
    assert "Queue.Push" in {u["symbol"] for u in out["unit_list"]}


def test_path_argument_narrows_and_finds_the_workspace(workspace, capsys, monkeypatch):
    monkeypatch.chdir(workspace / "src")
    assert run(["plan", "queue.go", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["workspace"] == str(workspace)  # found by its .refute folder
    assert out["files"] == 1 and list(out["by_language"]) == ["go"]


def test_lines_selection(workspace, capsys):
    assert run(["plan", str(workspace / "src" / "inventory.py"), "--workspace", str(workspace), "--json",
                "--max-unit-tokens", "60", "--lines", "31-32"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {u["symbol"] for u in out["largest_units"]} == {"Inventory.remove"}


def test_human_output_lists_groups(workspace, capsys):
    assert run(["plan", "--workspace", str(workspace), "--max-unit-tokens", "60"]) == 0
    out = capsys.readouterr().out
    for expected in ("Work units by language", "Skipped", "not UTF-8", "vendored", "Largest units", "python",
                     "units cache"):
        assert expected in out


@pytest.mark.parametrize("argv, message", [
    (["plan", "nowhere.py"], "no such file"),
    (["plan", "src", "--lines", "3-1"], "--lines"),
    (["plan", "src", "--lines", "1-2"], "one file"),
    (["plan", "--arg", "novalue"], "KEY=VALUE"),
    (["plan", "--max-unit-tokens", "3"], "max_tokens must be at least"),
])
def test_usage_errors_exit_2(workspace, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(workspace)
    assert run(argv) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_workflow_is_a_clear_error(workspace, capsys):
    assert run(["plan", "--workspace", str(workspace), "--workflow", "no-such-flow"]) == 2
    err = capsys.readouterr().err
    assert "no workflow named 'no-such-flow'" in err and "audit" in err


def test_workflow_estimate_goes_through_the_engine(workspace, capsys, monkeypatch):
    calls = []

    class FakeEstimate:
        def to_dict(self):
            return {"workflow": "audit", "calls": 7, "units": 3, "tokens": 1234, "cost_usd": 0.5, "status": "ok"}

    class FakeEngine:
        def __init__(self, root):
            calls.append(("init", Path(root)))

        def plan(self, workflow, scope, args):
            calls.append(("plan", workflow, scope.paths, scope.selection, args))
            return FakeEstimate()

        def close(self):
            calls.append(("close",))

        def __enter__(self):  # like Engine: `with Engine(root) as engine:` closes it
            return self

        def __exit__(self, *exc):
            self.close()

    import refute.orchestration.engine as engine_module

    monkeypatch.setattr(engine_module, "Engine", FakeEngine)
    assert run(["plan", "src", "--workspace", str(workspace), "--workflow", "audit", "--arg", "k=3",
                "--arg", "focus=auth", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["workflow"]["calls"] == 7
    assert calls == [("init", workspace), ("plan", "audit", ["src"], None, {"k": 3, "focus": "auth"}), ("close",)]


def test_registered_in_the_cli(workspace, capsys):
    from refute.server.cli import main

    assert main(["plan", "--workspace", str(workspace), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"] > 0
