"""The example in docs/workflows.md runs as written; converge stops on a real budget."""

from __future__ import annotations

import re
from pathlib import Path

from refute.orchestration.sandbox.scripts import check_source
from verification_fakes import claim_in, drive

DOCS = Path(__file__).resolve().parents[3] / "docs" / "workflows.md"


def docs_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    [example] = [b for b in blocks if "todo_audit" in b]
    return example


def test_the_documented_example_workflow_runs(tmp_path):
    ws = tmp_path / "ws"
    (ws / ".refute" / "workflows").mkdir(parents=True)
    (ws / ".refute" / "workflows" / "todo_audit.py").write_text(docs_example())
    (ws / "jobs.py").write_text("def run():\n    # TODO: add retries\n    return retry(3)\n")
    (ws / "clean.py").write_text("x = 1\n")
    assert check_source(docs_example()) == []

    def responder(prompt, request):
        if request["role"] == "refuter":
            assert claim_in(prompt)["quote"] == "# TODO: add retries"
            return {"verdict": "confirmed", "reason": "retry(3) is there", "evidence": "return retry(3)"}
        assert "jobs.py" in prompt  # only units with a TODO are asked about
        return {"findings": [{"path": "jobs.py", "quote": "# TODO: add retries", "title": "stale TODO",
                              "explanation": "retries exist", "severity": "info", "category": "maintenance"}]}

    outcome, events = drive(ws, "todo_audit", {}, responder)
    assert outcome.status == "completed", outcome.error
    assert outcome.result == 1
    assert [e for k, e in events if k == "finding"][0]["finding"]["title"] == "stale TODO"


CONVERGING = '''
meta = {"name": "grow", "description": "converge test", "phases": ["grow"], "args": {}}


def main(args):
    def step(round_index, previous):
        answer = agent("round " + str(round_index) + " list items", schema={"type": "object",
                       "properties": {"items": {"type": "array", "items": {"type": "string"}}},
                       "required": ["items"]}, max_tokens=200)
        return answer["items"]
    return converge(step, key=lambda item: item, max_rounds=6)
'''


def test_converge_in_a_workflow_stops_when_stable(tmp_path):
    ws = tmp_path / "ws"
    (ws / ".refute" / "workflows").mkdir(parents=True)
    (ws / ".refute" / "workflows" / "grow.py").write_text(CONVERGING)
    answers = {"0": ["a"], "1": ["a", "b"], "2": ["b", "a"], "3": ["c"]}

    def responder(prompt, request):
        return {"items": answers[re.search(r"round (\d)", prompt).group(1)]}

    outcome, events = drive(ws, "grow", {}, responder, units=[])
    assert outcome.status == "completed", outcome.error
    assert sorted(outcome.result) == ["a", "b"]
    logs = [e["message"] for k, e in events if k == "log"]
    assert any("converge stopped: answer set stable" in m for m in logs), logs


def test_converge_in_a_workflow_stops_before_the_budget_runs_out(tmp_path):
    from refute.orchestration.model import Budget

    ws = tmp_path / "ws"
    (ws / ".refute" / "workflows").mkdir(parents=True)
    (ws / ".refute" / "workflows" / "grow.py").write_text(CONVERGING)

    def responder(prompt, request):
        n = int(re.search(r"round (\d)", prompt).group(1))
        return {"items": [f"item{i}" for i in range(n + 1)]}  # never stable

    outcome, events = drive(ws, "grow", {}, responder, units=[], budget=Budget(tokens=1200))
    assert outcome.status == "completed", outcome.error  # stopped by converge, not by a refused call
    logs = [e["message"] for k, e in events if k == "log"]
    assert any("converge stopped: budget" in m for m in logs), logs
