"""SARIF validates against the official 2.1.0 schema; reports label scripted results."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from refute.orchestration.verification.findings import FindingsStore
from refute.orchestration.model import Budget, ProposedEdit, RunInfo, Scope, Usage, Verdict
from refute.orchestration.reporting.report import render

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "fixtures" / "sarif-schema-2.1.0.json"


@pytest.fixture
def populated(tmp_path):
    ws = tmp_path / "ws"
    (ws / "src dir").mkdir(parents=True)
    (ws / "src dir" / "db.py").write_text('def q(cur, name):\n    cur.execute("SELECT * FROM t WHERE n=" + name)\n')
    (ws / "util.py").write_text("def first(xs):\n    return xs[0]\n")
    store = FindingsStore(ws, tmp_path / "state")
    verdicts = [{"verdict": "confirmed", "reason": "string concat", "evidence": '"SELECT', "agent": "refute 1/2"},
                {"verdict": "confirmed", "reason": "no params", "evidence": "", "agent": "refute 2/2"}]
    sql, _ = store.ingest({"path": "src dir/db.py", "quote": 'cur.execute("SELECT * FROM t WHERE n=" + name)',
                           "title": "SQL injection", "explanation": "name is concatenated", "severity": "error",
                           "category": "security", "cwe": "CWE-89", "verdicts": verdicts, "confidence": 1.0,
                           "fix": {"old": '"SELECT * FROM t WHERE n=" + name', "new": '"SELECT * FROM t WHERE n=?", (name,)'}},
                          run_id="r1", workflow="security", provider="scripted")
    idx, _ = store.ingest({"path": "util.py", "quote": "return xs[0]", "title": "empty list",
                           "explanation": "IndexError on []", "severity": "warning", "category": "bug",
                           "verdicts": verdicts[:1]}, run_id="r1", workflow="security", provider="scripted")
    store.ingest({"path": "util.py", "quote": "return xs[1]", "title": "invented"}, run_id="r1")
    store.dismiss(idx.fingerprint, "callers never pass []", "ana")
    run = RunInfo(id="r1", workflow="security", script_hash="h", args={}, scope=Scope(), status="completed",
                  budget=Budget(), provider="scripted", calls_done=7, usage=Usage(1000, 200), cost_usd=0.0)
    yield store, run, sql, idx
    store.close()


def test_sarif_validates_and_carries_what_code_scanning_needs(populated):
    store, run, sql, idx = populated
    text = render(store.list(include_dismissed=True), run, "sarif", dismissals=store.dismissals())
    doc = json.loads(text)
    jsonschema.validate(doc, json.loads(SCHEMA_PATH.read_text()))
    assert doc["version"] == "2.1.0" and doc["$schema"]
    [sarif_run] = doc["runs"]
    driver = sarif_run["tool"]["driver"]
    assert driver["name"] == "refute" and driver["version"] and driver["informationUri"].startswith("https://")
    rules = {r["id"]: r for r in driver["rules"]}
    assert "external/cwe/cwe-89" in rules["refute/security/CWE-89"]["properties"]["tags"]
    results = {r["partialFingerprints"]["refuteFingerprint/v1"]: r for r in sarif_run["results"]}
    sql_result = results[sql.fingerprint]
    assert driver["rules"][sql_result["ruleIndex"]]["id"] == sql_result["ruleId"]
    assert sql_result["level"] == "error"
    loc = sql_result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "src%20dir/db.py", "uriBaseId": "%SRCROOT%"}
    assert loc["region"]["startLine"] == 2 and loc["region"]["startColumn"] == 5
    assert loc["region"]["endColumn"] == 5 + len('cur.execute("SELECT * FROM t WHERE n=" + name)')
    assert "scripted" in sql_result["message"]["text"]
    assert "suppressions" not in sql_result
    [suppression] = results[idx.fingerprint]["suppressions"]
    assert suppression["kind"] == "external" and suppression["status"] == "accepted"
    assert "callers never pass []" in suppression["justification"]


def test_sarif_leaves_out_a_finding_whose_fix_was_applied(populated, tmp_path):
    store, run, sql, idx = populated
    db = tmp_path / "ws" / "src dir" / "db.py"
    db.write_text(db.read_text().replace('"SELECT * FROM t WHERE n=" + name', '"SELECT * FROM t WHERE n=?", (name,)'))
    doc = json.loads(render(store.list(include_dismissed=True), run, "sarif", dismissals=store.dismissals()))
    fingerprints = [r["partialFingerprints"]["refuteFingerprint/v1"] for r in doc["runs"][0]["results"]]
    assert sql.fingerprint not in fingerprints and idx.fingerprint in fingerprints
    assert doc["runs"][0]["properties"]["fixedFindingsOmitted"] == 1


def test_schema_rejects_a_broken_document():
    schema = json.loads(SCHEMA_PATH.read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "2.1.0", "runs": [{"tool": {}}]}, schema)


def test_markdown_groups_by_file_and_labels_scripted(populated):
    store, run, sql, idx = populated
    edit = ProposedEdit(id="e1", path="util.py", base_hash="x", new_text="", reason="guard empty list",
                        reviews=[Verdict("approve", "fine")], run_id="r1", provider="scripted")
    md = render(store.list(include_dismissed=True), run, "md", dropped=store.dropped("r1"), edits=[edit])
    assert md.startswith("# refute security: run r1")
    assert "scripted (deterministic test answers, not a real model)" in md
    assert "### src dir/db.py" in md and "SQL injection" in md and "line 2" in md
    assert "confidence 1.00" in md and "2 confirmed" in md
    assert "## Dismissed (1)" in md and idx.fingerprint in md
    assert "## Dropped by the mechanical check (1)" in md and "quote not found" in md
    assert "## Proposed edits (1)" in md and "guard empty list" in md


def test_json_and_ask_result_and_bad_format(populated):
    store, run, *_ = populated
    doc = json.loads(render(store.list(), run, "json"))
    assert doc["run"]["id"] == "r1" and len(doc["findings"]) == 1
    run.workflow, run.result = "ask", "## Answer\n\nThe parser is in `p.py:3`."
    md = render([], run, "md")
    assert "## Result" in md and "The parser is in `p.py:3`." in md
    with pytest.raises(ValueError, match="unknown report format"):
        render([], run, "pdf")
