"""Bundled workflows through the engine's run driver with the scripted provider."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from refute.orchestration.verification.edits import EditsStore
from refute.orchestration.verification.findings import FindingsStore
from refute.orchestration.runtime.driver import state_dir_of
from test_workflows_sandboxed import (ask_responder, audit_responder, migrate_responder, review_responder,
                                      security_responder)
from verification_fakes import drive, write_sample_repo


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = write_sample_repo(tmp_path / "repo")
    (root / ".gitignore").write_text(".refute/state/\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    return root


def by_request(responder):
    return lambda prompt, request: responder(prompt, {"label": request["label"], "context": request["context"]})


def test_audit_through_the_engine_reports_and_drops(repo):
    outcome, events = drive(repo, "audit", {}, by_request(audit_responder))
    assert outcome.status == "completed", outcome.error
    assert {k: outcome.result[k] for k in ("candidates", "confirmed", "dropped", "merged")} == \
        {"candidates": 3, "confirmed": 1, "dropped": 1, "merged": 0}
    assert outcome.result["complete"] and outcome.result["not_covered"] == 0
    kinds = [k for k, _ in events]
    assert kinds.count("finding") == 1 and kinds.count("finding_dropped") == 1
    store = FindingsStore(repo, state_dir_of(repo))
    [finding] = store.list(run_id="run1")
    assert finding.title == "off by one" and finding.provider == "scripted"
    assert len(finding.provenance) >= 1, "the calls behind it are recorded"
    store.close()
    # Re-running on unchanged code is a free replay with the same result: each candidate
    # that quotes what a stored finding quotes IS that finding, so it meets its refuters
    # again and they replay from the journal; nothing is merged, nothing is paid.
    outcome2, events2 = drive(repo, "audit", {}, by_request(audit_responder), run_id="run2")
    assert {k: outcome2.result[k] for k in ("candidates", "confirmed", "dropped", "merged")} == \
        {"candidates": 3, "confirmed": 1, "dropped": 1, "merged": 0}
    finished = [f for k, f in events2 if k == "call_finished"]
    assert finished and all(f["replayed"] for f in finished)
    assert len(finished) == len([f for k, f in events if k == "call_finished"])
    store = FindingsStore(repo, state_dir_of(repo))
    [stored] = store.list()
    assert store.list(run_id="run2") == [stored] and store.merges_of(stored.fingerprint) == []
    store.close()
    # A later run (another focus: new finder calls) whose finder quotes other code at the
    # stored finding's place merges it into that finding (no refuter is paid for it), and
    # the merge is recorded there.
    def other_wording(prompt, kwargs):
        if (kwargs.get("label") or "").startswith("audit:find calc.py"):
            return {"findings": [{"path": "calc.py", "quote": "range(len(items) + 1)", "title": "reads past the end",
                                  "explanation": "x", "severity": "error", "category": "bug"}]}
        return audit_responder(prompt, kwargs)

    outcome3, events3 = drive(repo, "audit", {"focus": "bounds"}, by_request(other_wording), run_id="run3")
    assert {k: outcome3.result[k] for k in ("candidates", "confirmed", "merged")} == \
        {"candidates": 1, "confirmed": 0, "merged": 1}
    assert not any((f["label"] or "").startswith("refute") for k, f in events3 if k == "call_finished")
    assert [(f["into"], f["where"]) for k, f in events3 if k == "finding_merged"] == [(stored.fingerprint, "stored")]
    store = FindingsStore(repo, state_dir_of(repo))
    assert [(m["run_id"], m["title"]) for m in store.merges_of(stored.fingerprint)] == [("run3", "reads past the end")]
    assert store.list(run_id="run3") == store.list()
    store.close()


def test_dismissed_finding_stays_dismissed_on_a_rerun(repo):
    drive(repo, "audit", {}, by_request(audit_responder))
    store = FindingsStore(repo, state_dir_of(repo))
    [finding] = store.list()
    store.dismiss(finding.fingerprint, "sentinel on purpose", "ana")
    store.close()
    drive(repo, "audit", {}, by_request(audit_responder), run_id="run2")
    store = FindingsStore(repo, state_dir_of(repo))
    assert store.list() == [] and store.list(run_id="run2") == []
    assert [f.review_state for f in store.list(include_dismissed=True)] == ["dismissed"]
    store.close()


def test_security_through_the_engine(repo):
    outcome, _ = drive(repo, "security", {}, by_request(security_responder))
    assert outcome.status == "completed", outcome.error
    store = FindingsStore(repo, state_dir_of(repo))
    [finding] = store.list()
    assert finding.cwe == "CWE-89"
    store.close()


def test_security_researchers_per_component_and_lens_with_read_only_tools(repo):
    seen: list[dict] = []
    swept: list[str] = []

    def responder(prompt, request):
        label = request["label"] or ""
        if label == "security:threat model":
            return "- CWE-89 SQL injection matters"
        if label.startswith("security:research:"):
            seen.append(request)
            assert "<component path=" in request["context"] and "Threat model" in request["context"]
            lens = label.split(" ", 1)[0].rsplit(":", 1)[1]
            found = []
            if lens == "input" and "web.py" in request["context"]:
                found = [{"path": "web.py", "quote": "cur.execute(\"SELECT * FROM t WHERE n='\" + name + \"'\")",
                          "title": "SQL injection", "explanation": "name concatenated", "severity": "error",
                          "category": "security", "cwe": "CWE-89"}]
            if lens == "access" and "web.py" in request["context"]:  # the same sink seen through another lens
                found = [{"path": "web.py", "quote": "cur.execute(\"SELECT * FROM t WHERE n='\" + name + \"'\")",
                          "title": "query built from input", "explanation": "x", "severity": "warning",
                          "category": "security", "cwe": "CWE-564"}]
            return {"findings": found, "read": ["web.py"], "not_reached": ["calc.py"]}
        if label.startswith("security:find calc.py"):  # the sweep of what no researcher reached
            swept.append(label)
            return {"findings": []}
        if label.startswith("refute"):
            return {"verdict": "confirmed", "reason": "concatenation", "evidence": "+ name +"}
        raise AssertionError(label)

    outcome, events = drive(repo, "security", {"mode": "components"}, responder)
    assert outcome.status == "completed", outcome.error
    result = outcome.result
    assert result["mode"] == "components" and result["complete"] and result["files_read"] == 1
    assert {k: result[k] for k in ("candidates", "confirmed", "merged")} == {"candidates": 2, "confirmed": 1, "merged": 1}
    assert {r["label"].split(" ", 1)[0] for r in seen} == {f"security:research:{lens}"
                                                           for lens in ("input", "access", "memory", "crypto")}
    assert all(set(r["tools"]) == {"read_file", "search_text", "list_symbols"} for r in seen)
    merged = [f for kind, f in events if kind == "finding_merged"]
    assert len(merged) == 1 and merged[0]["merged"]["family"] == "cwe:injection"
    assert swept == ["security:find calc.py"] and result["swept_unreached"] == 1  # not reached, read by no one


def test_migrate_through_the_engine_on_a_git_repo(repo):
    state = {"reviews": 0}
    outcome, events = drive(repo, "migrate", {"instruction": "replace os.path with pathlib"},
                            by_request(migrate_responder(state)))
    assert outcome.status == "completed", outcome.error
    assert outcome.result["counts"] == {"proposed": 1, "unchanged": 2}
    assert git(repo, "status", "--porcelain") == "", "nothing on disk changes until apply"
    assert [k for k, _ in events].count("edit_proposed") == 2  # two replacements, composed into one file edit
    edits = EditsStore(repo, state_dir_of(repo))
    [edit] = edits.list("run1")
    assert edit.path == "io_util.py" and "str(pathlib.Path.cwd() / 'x')" in edit.new_text
    assert [r.verdict for r in edit.reviews] == ["approve", "approve"]
    (repo / "io_util.py").write_text((repo / "io_util.py").read_text() + "# touched\n")
    [refused] = edits.apply("run1")
    assert not refused.ok and "changed since" in refused.message
    git(repo, "checkout", "--", "io_util.py")
    [applied] = edits.apply("run1")
    assert applied.ok
    assert git(repo, "diff", "--name-only").split() == ["io_util.py"]
    edits.close()


def test_ask_through_the_engine_returns_the_report(repo):
    outcome, _ = drive(repo, "ask", {"question": "How does total work?"}, by_request(ask_responder))
    assert outcome.status == "completed", outcome.error
    assert "total() sums the items (`calc.py:4`" in outcome.result
    assert "refuted: it returns only at the end" in outcome.result


def test_reverify_asks_fresh_refuters_and_merges_their_verdicts(repo):
    drive(repo, "audit", {}, by_request(audit_responder))
    store = FindingsStore(repo, state_dir_of(repo))
    [finding] = store.list()
    store.close()
    asked = []

    def responder(prompt, request):
        asked.append(request["label"])
        assert "checked again" in prompt and "for i in range(len(items) + 1):" in prompt
        return {"verdict": "refuted", "reason": "callers pass a sentinel", "evidence": "items + [0]"}

    outcome, _ = drive(repo, "reverify", {"finding": finding.to_dict()}, responder, run_id="rv1")
    assert outcome.status == "completed", outcome.error
    assert outcome.result["verdict"] == "refuted" and len(asked) == 3, "three fresh refuters, none replayed"
    store = FindingsStore(repo, state_dir_of(repo))
    updated = store.get(finding.fingerprint)
    assert [v.verdict for v in updated.verdicts] == ["confirmed", "confirmed", "refuted", "refuted", "refuted"]
    assert updated.confidence == 0.4
    store.close()
    # The quoted code is gone: reverify says stale without asking anyone.
    (repo / "calc.py").write_text("def total(items):\n    return sum(items)\n")
    asked.clear()
    outcome, _ = drive(repo, "reverify", {"finding": finding.to_dict()}, responder, run_id="rv2")
    assert outcome.result["verdict"] == "stale" and asked == []


def test_review_through_the_engine(repo):
    outcome, _ = drive(repo, "review", {"focus": "error handling"}, by_request(review_responder))
    assert outcome.status == "completed", outcome.error
    assert "functions return raw values without validation (`web.py:3`" in outcome.result
    assert "its quote is not in calc.py" in outcome.result
