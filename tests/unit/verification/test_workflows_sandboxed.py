"""The bundled workflows, run in the real sandbox with scripted agents (no engine)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from refute.orchestration.sandbox.scripts import check_source
from verification_fakes import SandboxRun, claim_in, write_sample_repo

WORKFLOWS = ["audit", "security", "migrate", "ask", "review"]


@pytest.mark.parametrize("name", WORKFLOWS)
def test_bundled_workflow_passes_the_static_check(name):
    from importlib import resources

    source = resources.files("refute.orchestration.workflows").joinpath(f"{name}.py").read_text()
    assert check_source(source) == []


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = write_sample_repo(tmp_path / "repo")
    return root


def audit_responder(prompt, kwargs):
    label = kwargs.get("label") or ""
    if label.startswith("audit:find calc.py"):
        return {"findings": [
            {"path": "calc.py", "quote": "for i in range(len(items) + 1):", "title": "off by one",
             "explanation": "reads past the end", "severity": "error", "category": "bug"},
            {"path": "calc.py", "quote": "s = 0", "title": "not a bug", "explanation": "x",
             "severity": "info", "category": "bug"},
            {"path": "calc.py", "quote": "for i in range(n):", "title": "invented quote", "explanation": "x",
             "severity": "error", "category": "bug"},
        ]}
    if label.startswith("audit:find"):
        return {"findings": []}
    if label.startswith("refute"):
        claim = claim_in(prompt)
        real = claim["title"] != "not a bug"
        return {"verdict": "confirmed" if real else "refuted", "reason": "checked", "evidence": claim["quote"]}
    raise AssertionError(f"unexpected call {label}")


def test_audit_reports_confirmed_findings_as_they_are_confirmed(repo, tmp_path):
    run = SandboxRun(repo, tmp_path / "state", audit_responder)
    result = run.run("audit", {})
    assert {k: result[k] for k in ("candidates", "confirmed", "dropped", "merged")} == \
        {"candidates": 3, "confirmed": 1, "dropped": 1, "merged": 0}
    assert result["complete"] and run.coverage["covered"] == len(run.covered) > 0
    titles = [f.title for f in run.findings.list()]
    assert titles == ["off by one"]
    # The mechanical check drops the invented quote before any refuter is paid for it:
    # two refuters each for the two real candidates, none for the invented one.
    assert [d["title"] for d in run.findings.dropped("run1")] == ["invented quote"]
    assert len([d for kind, d in run.events if kind == "agent" and d.startswith("refute")]) == 4
    # Streaming: the confirmed finding of calc.py is reported before later units are searched.
    order = [detail for kind, detail in run.events if kind == "report" or detail.startswith("audit:find")]
    assert order.index("off by one") < order.index("audit:find io_util.py") < order.index("audit:find web.py")
    assert order[:2] == ["audit:find calc.py", "off by one"]
    finding = run.findings.list()[0]
    assert [v.verdict for v in finding.verdicts] == ["confirmed", "confirmed"] and finding.confidence == 1.0
    run.close()


def security_responder(prompt, kwargs):
    label = kwargs.get("label") or ""
    if label == "security:threat model":
        assert "web.py" in prompt
        return "- attacker controls `name` in search()\n- CWE-89 SQL injection matters"
    if label.startswith("security:find web.py"):
        assert "Threat model" in kwargs["context"]
        return {"findings": [{"path": "web.py", "quote": "cur.execute(\"SELECT * FROM t WHERE n='\" + name + \"'\")",
                              "title": "SQL injection", "explanation": "name concatenated", "severity": "error",
                              "category": "security", "cwe": "CWE-89"}]}
    if label.startswith("security:find"):
        return {"findings": []}
    if label.startswith("refute"):
        return {"verdict": "confirmed", "reason": "concatenation", "evidence": "+ name +"}
    raise AssertionError(label)


def test_security_threat_model_first_then_cwe_findings(repo, tmp_path):
    run = SandboxRun(repo, tmp_path / "state", security_responder)
    result = run.run("security", {})
    assert {k: result[k] for k in ("candidates", "confirmed", "dropped", "mode", "complete")} == \
        {"candidates": 1, "confirmed": 1, "dropped": 0, "mode": "units", "complete": True}
    assert run.events[0] == ("agent", "security:threat model")
    [finding] = run.findings.list()
    assert finding.cwe == "CWE-89" and finding.category == "security" and finding.path == "web.py"
    run.close()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def survey_answer(label):
    """The survey's scripted answers (surveyors, then the guide writer), or None."""
    if label.startswith("migrate:survey"):
        return {"touches": [{"path": "io_util.py", "what": "os.path.join"}], "conventions": ["return str"]}
    if label == "migrate:guide":
        return "# Guide\n- use pathlib; keep returning str\n"
    return None


def migrate_responder(state):
    def responder(prompt, kwargs):
        label = kwargs.get("label") or ""
        if survey_answer(label) is not None:
            return survey_answer(label)
        m = re.match(r"migrate:edit (\S+)( \(revision\))?", label)
        if m:
            path, revision = m.group(1), bool(m.group(2))
            if path == "io_util.py":
                new = "return str(pathlib.Path.cwd() / 'x')" if revision else "return pathlib.Path.cwd() / 'x'"
                return {"path": path, "changed": True, "reason": "use pathlib",
                        "edits": [{"old": "import os", "new": "import pathlib"},
                                  {"old": "return os.path.join(os.getcwd(), 'x')", "new": new}]}
            return {"path": path, "changed": False, "edits": [], "reason": "no os.path here"}
        m = re.match(r"migrate:review (\d) (\S+)", label)
        if m:
            state["reviews"] += 1
            if "str(pathlib" not in prompt:  # the first proposal returns a Path, not a str
                return {"verdict": "reject", "reason": "returns Path where callers expect str", "evidence": "here()"}
            return {"verdict": "approve", "reason": "same behaviour", "evidence": ""}
        raise AssertionError(label)
    return responder


def test_migrate_on_a_git_repo_proposes_reviewed_edits_and_writes_nothing(repo, tmp_path):
    git(repo, "init", "-q")
    git(repo, "-c", "user.email=t@e", "-c", "user.name=t", "add", ".")
    git(repo, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "init")
    state = {"reviews": 0}
    run = SandboxRun(repo, tmp_path / "state", migrate_responder(state))
    result = run.run("migrate", {"instruction": "replace os.path with pathlib"})
    assert result["counts"] == {"proposed": 1, "unchanged": 2}
    assert state["reviews"] == 4, "two reviewers, twice: the rejected edit went back once"
    assert git(repo, "status", "--porcelain") == "", "nothing on disk changes before apply"
    [edit] = run.edits.list("run1")
    assert edit.path == "io_util.py"
    assert edit.new_text == "import pathlib\n\ndef here():\n    return str(pathlib.Path.cwd() / 'x')\n"
    assert [r.verdict for r in edit.reviews] == ["approve", "approve"]
    [outcome] = run.edits.apply("run1")
    assert outcome.ok and git(repo, "diff", "--name-only").split() == ["io_util.py"]
    run.close()


def test_migrate_apply_refuses_a_file_edited_since(repo, tmp_path):
    run = SandboxRun(repo, tmp_path / "state", migrate_responder({"reviews": 0}))
    run.run("migrate", {"instruction": "replace os.path with pathlib"})
    (repo / "io_util.py").write_text("import os\n# edited by a person\n")
    [outcome] = run.edits.apply("run1")
    assert not outcome.ok and "changed since" in outcome.message
    assert (repo / "io_util.py").read_text() == "import os\n# edited by a person\n"
    run.close()


def test_migrate_needs_an_instruction(repo, tmp_path):
    run = SandboxRun(repo, tmp_path / "state", migrate_responder({"reviews": 0}))
    with pytest.raises(ValueError, match="instruction"):
        run.run("migrate", {})
    run.close()


def ask_responder(prompt, kwargs):
    label = kwargs.get("label") or ""
    if label.startswith("ask:explore"):
        if "where it is implemented" not in prompt:
            return {"claims": []}
        return {"claims": [
            {"claim": "total() sums the items", "path": "calc.py", "quote": "s += items[i]"},
            {"claim": "total() caches results", "path": "calc.py", "quote": "cache[key] = s"},
            {"claim": "total() returns early", "path": "calc.py", "quote": "return s"},
        ]}
    if label.startswith("refute"):
        claim = claim_in(prompt)
        ok = claim["claim"] != "total() returns early"
        return {"verdict": "confirmed" if ok else "refuted",
                "reason": "checked" if ok else "it returns only at the end", "evidence": ""}
    raise AssertionError(label)


def test_ask_keeps_only_surviving_claims_with_citations(repo, tmp_path):
    run = SandboxRun(repo, tmp_path / "state", ask_responder)
    report = run.run("ask", {"question": "How does total work?"})
    survived, dropped = report.split("## Dropped")
    assert "total() sums the items (`calc.py:4`" in survived
    assert "caches" not in survived and "returns early" not in survived
    assert "total() caches results (calc.py): its quote is not in calc.py" in dropped
    assert "total() returns early (calc.py): refuted: it returns only at the end" in dropped
    run.close()


def review_responder(prompt, kwargs):
    label = kwargs.get("label") or ""
    if label.startswith("review:observe"):
        path = label.split()[-1]
        quote = {"calc.py": "return s", "web.py": "return cur.fetchall()", "io_util.py": "import os"}[path]
        return {"claims": [{"claim": f"{path} observation", "path": path, "quote": quote}]}
    if label == "review:synthesise":
        assert "calc.py observation" in prompt
        return {"claims": [
            {"claim": "functions return raw values without validation", "path": "web.py", "quote": "return cur.fetchall()"},
            {"claim": "errors are logged everywhere", "path": "calc.py", "quote": "log.error(e)"},
        ]}
    if label.startswith("refute"):
        return {"verdict": "confirmed", "reason": "ok", "evidence": ""}
    raise AssertionError(label)


def test_review_synthesis_claims_are_cross_checked(repo, tmp_path):
    run = SandboxRun(repo, tmp_path / "state", review_responder)
    report = run.run("review", {"focus": "error handling"})
    assert "functions return raw values without validation (`web.py:3`" in report
    assert "errors are logged everywhere (calc.py): its quote is not in calc.py" in report
    assert "## Per-file observations (3" in report
    run.close()


def test_ask_cites_a_claim_whose_quote_the_model_only_saw_redacted(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "settings.py").write_text("DEBUG = False\nAPI_TOKEN = 'sk-live-9f8e7d6c5b4a'\n")

    def responder(prompt, kwargs):
        if (kwargs.get("label") or "").startswith("ask:explore"):
            if "where it is implemented" not in prompt:
                return {"claims": []}
            return {"claims": [{"claim": "the API token is hard-coded", "path": "settings.py",
                                "quote": "API_TOKEN = '[REDACTED:password]'"}]}
        return {"verdict": "confirmed", "reason": "literal in source", "evidence": ""}

    run = SandboxRun(ws, tmp_path / "state", responder)
    report = run.run("ask", {"question": "Where is the API token configured?"})
    assert "the API token is hard-coded (`settings.py:2`" in report
    assert "sk-live" not in report
    run.close()


def test_migrate_sends_a_replacement_that_cannot_apply_back_to_the_editor(repo, tmp_path):
    calls = []

    def responder(prompt, kwargs):
        label = kwargs.get("label") or ""
        calls.append(label)
        if survey_answer(label) is not None:
            return survey_answer(label)
        if label == "migrate:edit io_util.py":
            return {"path": "io_util.py", "changed": True, "reason": "r",
                    "edits": [{"old": "import os", "new": "import pathlib"},
                              {"old": "os.getcwdb()", "new": "pathlib.Path.cwd()"}]}  # invented old text
        if label == "migrate:edit io_util.py (revision)":
            assert "replacement 2: io_util.py: old_text not found in the current file" in prompt
            return {"path": "io_util.py", "changed": False, "edits": [], "reason": "gave up"}
        if label.startswith("migrate:edit"):
            return {"path": "", "changed": False, "edits": [], "reason": ""}
        raise AssertionError(label)

    run = SandboxRun(repo, tmp_path / "state", responder)
    result = run.run("migrate", {"instruction": "use pathlib"})
    assert result["counts"]["withdrawn"] == 1
    assert not any(c.startswith("migrate:review") for c in calls), "reviewers never saw an edit that cannot apply"
    assert run.edits.list("run1") == [], "no half-migrated file is proposed"
    run.close()
