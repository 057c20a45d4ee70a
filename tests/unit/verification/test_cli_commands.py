"""The CLI end to end: `refute run` (engine, worker process, scripted provider), then
report / findings / dismiss / restore / apply / new on what it produced."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import jsonschema
import pytest

from refute.server.cli import main as cli

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "sarif-schema-2.1.0.json").read_text())

FIXTURE = textwrap.dedent('''
    import json, re

    SCRIPT = """meta = {"name": "count_todos", "description": "Count TODO comments", "phases": ["count"], "args": {}}


    def main(args):
        phase("count")
        total = 0
        for unit in units():
            total = total + unit["text"].count("TODO")
        log("TODOs: " + str(total))
        return total
    """

    BROKEN = SCRIPT.replace("def main(args):", "def main():")

    def respond(request):
        label = request.get("label") or ""
        prompt = request["prompt"]
        if label.startswith("audit:find calc.py"):
            return {"findings": [
                {"path": "calc.py", "quote": "for i in range(len(items) + 1):", "title": "off by one",
                 "explanation": "reads one past the end", "severity": "error", "category": "bug"},
                {"path": "calc.py", "quote": "for i in range(n):", "title": "invented", "explanation": "x",
                 "severity": "error", "category": "bug"}]}
        if label.startswith("audit:find"):
            return {"findings": []}
        if label.startswith("refute"):
            return {"verdict": "confirmed", "reason": "index len(items) is out of range", "evidence": "+ 1"}
        if label.startswith("migrate:survey"):
            return {"touches": [{"path": "io_util.py", "what": "os.path.join"}], "conventions": ["return str"]}
        if label == "migrate:guide":
            return "# Guide\\n- pathlib; keep returning str\\n"
        if label.startswith("migrate:edit io_util.py"):
            return {"path": "io_util.py", "changed": True, "reason": "use pathlib",
                    "edits": [{"old": "return os.path.join(os.getcwd(), 'x')", "new": "return str(pathlib.Path.cwd() / 'x')"},
                              {"old": "import os", "new": "import pathlib"}]}
        if label.startswith("migrate:edit"):
            return {"path": "", "changed": False, "edits": [], "reason": "nothing to do"}
        if label.startswith("migrate:review"):
            return {"verdict": "approve", "reason": "equivalent", "evidence": ""}
        if label == "write workflow":
            if "It has these problems" in prompt:
                return "Fixed:\\n```python\\n" + SCRIPT + "```\\n"
            return "Here it is:\\n```python\\n" + BROKEN + "```\\n"
        raise ValueError("no scripted answer for " + label)
''')


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "calc.py").write_text("def total(items):\n    s = 0\n    for i in range(len(items) + 1):\n"
                                  "        s += items[i]\n    return s\n")
    (root / "io_util.py").write_text("import os\n\n\ndef here():\n    return os.path.join(os.getcwd(), 'x')\n")
    (tmp_path / "fixture.py").write_text(FIXTURE)
    return root


def scripted(ws: Path) -> list[str]:
    return ["--workspace", str(ws), "--provider", "scripted", "--scripted-fixture", f"{ws.parent / 'fixture.py'}:respond"]


def run_json(capsys, argv: list[str]) -> dict:
    capsys.readouterr()
    code = cli(argv + ["--json"])
    out = capsys.readouterr().out
    info = json.loads(out[out.index("{"):])
    assert code == 0, info
    return info


def test_audit_then_report_findings_dismiss_restore(ws, capsys):
    info = run_json(capsys, ["run", "audit"] + scripted(ws))
    run_id = info["id"]
    assert info["status"] == "completed"

    assert cli(["report", run_id, "--workspace", str(ws)]) == 0
    md = capsys.readouterr().out
    assert "off by one" in md and "scripted (deterministic test answers" in md
    assert "## Dropped by the mechanical check (1)" in md

    sarif_path = ws.parent / "out.sarif"
    assert cli(["report", run_id, "--format", "sarif", "-o", str(sarif_path), "--workspace", str(ws)]) == 0
    doc = json.loads(sarif_path.read_text())
    jsonschema.validate(doc, SCHEMA)
    [result] = doc["runs"][0]["results"]
    fingerprint = result["partialFingerprints"]["refuteFingerprint/v1"]
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 3

    capsys.readouterr()
    assert cli(["findings", "--workspace", str(ws)]) == 0
    assert "calc.py:3:5: error: off by one" in capsys.readouterr().out

    assert cli(["dismiss", fingerprint, "--reason", "sentinel on purpose", "--workspace", str(ws)]) == 0
    assert json.loads((ws / ".refute" / "dismissed.json").read_text())[fingerprint]["why"] == "sentinel on purpose"
    capsys.readouterr()
    assert cli(["findings", "--workspace", str(ws)]) == 0
    assert "no findings" in capsys.readouterr().out
    # A second run reports it again; it stays dismissed and shows as suppressed in SARIF.
    run2 = run_json(capsys, ["run", "audit"] + scripted(ws))["id"]
    assert cli(["report", run2, "--format", "sarif", "-o", str(sarif_path), "--workspace", str(ws)]) == 0
    [again] = json.loads(sarif_path.read_text())["runs"][0]["results"]
    assert again["suppressions"][0]["status"] == "accepted"
    assert cli(["restore", fingerprint, "--workspace", str(ws)]) == 0
    capsys.readouterr()
    assert cli(["findings", "--workspace", str(ws)]) == 0
    assert "off by one" in capsys.readouterr().out

    assert cli(["dismiss", "nope", "--reason", "x", "--workspace", str(ws)]) == 2
    assert "no finding with fingerprint" in capsys.readouterr().err
    assert cli(["report", "no-such-run", "--workspace", str(ws)]) == 2


def test_migrate_then_apply(ws, capsys):
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    before = (ws / "io_util.py").read_text()
    run_id = run_json(capsys, ["run", "migrate", "--arg", "instruction=use pathlib"] + scripted(ws))["id"]
    assert (ws / "io_util.py").read_text() == before, "nothing is written by the run"
    capsys.readouterr()
    assert cli(["apply", run_id, "--dry-run", "--workspace", str(ws)]) == 0
    assert "io_util.py: can be applied" in capsys.readouterr().out
    assert (ws / "io_util.py").read_text() == before
    assert cli(["apply", run_id, str(ws / "io_util.py"), "--workspace", str(ws)]) == 0
    assert (ws / "io_util.py").read_text() == "import pathlib\n\n\ndef here():\n    return str(pathlib.Path.cwd() / 'x')\n"


def test_apply_refuses_a_file_edited_since(ws, capsys):
    run_id = run_json(capsys, ["run", "migrate", "--arg", "instruction=use pathlib"] + scripted(ws))["id"]
    (ws / "io_util.py").write_text("# mine now\n")
    capsys.readouterr()
    assert cli(["apply", run_id, "--workspace", str(ws)]) == 1
    assert "changed since the edit was proposed" in capsys.readouterr().out
    assert (ws / "io_util.py").read_text() == "# mine now\n"


def test_new_writes_checks_and_saves_without_running(ws, capsys):
    capsys.readouterr()
    code = cli(["new", "count the TODO comments"] + scripted(ws))
    out = capsys.readouterr().out
    assert code == 0, out
    saved = ws / ".refute" / "workflows" / "count_the_todo_comments.py"
    assert saved.is_file() and "def main(args):" in saved.read_text(), "the repaired script was saved"
    assert "refute run count_the_todo_comments" in out
    assert "dry run: 0 agent call(s) over 2 unit(s)" in out and "scripted" in out
    runs = [r for r in json.loads(_runs_json(ws, capsys))]
    assert runs and {r["workflow"] for r in runs} == {"new_workflow"}, "only the writing ran, not the new script"
    # A second request never overwrites the first script.
    assert cli(["new", "count the TODO comments"] + scripted(ws)) == 0
    assert (ws / ".refute" / "workflows" / "count_the_todo_comments_2.py").is_file()


def _runs_json(ws: Path, capsys) -> str:
    from refute.orchestration.engine import Engine

    engine = Engine(ws)
    try:
        return json.dumps([r.to_dict() for r in engine.runs()], default=str)
    finally:
        engine.close()
