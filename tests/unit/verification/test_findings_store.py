"""The mechanical check, dedup, dismissals that survive re-runs, re-anchoring."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from refute.orchestration.verification.findings import FindingNotFound, FindingsStore, fingerprint

SOURCE = """def total(items):
    s = 0
    for i in range(len(items) + 1):
        s += items[i]
    return s
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "calc.py").write_text(SOURCE)
    return root


@pytest.fixture
def store(ws: Path, tmp_path: Path):
    s = FindingsStore(ws, tmp_path / "state")
    yield s
    s.close()


def raw(**over):
    base = {"path": "pkg/calc.py", "quote": "for i in range(len(items) + 1):", "title": "off by one",
            "explanation": "reads one past the end", "severity": "error", "category": "bug"}
    base.update(over)
    return base


def test_fingerprint_ignores_whitespace_but_not_path_or_category():
    a = fingerprint("pkg/calc.py", "bug", "for i in range(len(items) + 1):")
    assert a == fingerprint("pkg/calc.py", "Bug", "  for i in\n   range(len(items) + 1):")
    assert a != fingerprint("pkg/other.py", "bug", "for i in range(len(items) + 1):")
    assert a != fingerprint("pkg/calc.py", "security", "for i in range(len(items) + 1):")


def test_ingest_anchors_the_quote(store):
    finding, reason = store.ingest(raw(), run_id="r1", workflow="audit", provider="scripted", provenance=["k1"])
    assert reason is None
    assert (finding.span.start_line, finding.span.start_col) == (2, 4)
    assert finding.span.end_col == 4 + len("for i in range(len(items) + 1):")
    assert finding.provider == "scripted" and finding.provenance == ["k1"] and finding.workflow == "audit"


@pytest.mark.parametrize("bad,why", [
    (raw(quote="for i in range(n_items):"), "quote not found"),
    (raw(quote="   "), "no quote"),
    (raw(path="pkg/missing.py"), "no such file"),
    (raw(path="../outside.py"), "'..'"),
    (raw(path="/etc/passwd"), "outside the workspace"),
    ("just text", "not an object"),
])
def test_invented_or_misplaced_evidence_is_dropped_and_counted(store, bad, why):
    finding, reason = store.ingest(bad, run_id="r1")
    assert finding is None and why in reason
    drops = store.dropped("r1")
    assert len(drops) == 1 and why in drops[0]["reason"]
    assert store.list() == []


def test_symlink_out_of_the_workspace_and_binary_files_are_dropped(store, ws, tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text("password = 'x'\n")
    os.symlink(secret, ws / "pkg" / "link.py")
    (ws / "pkg" / "blob.py").write_bytes(b"x = 1\x00\x01")
    _, why_link = store.ingest(raw(path="pkg/link.py", quote="password = 'x'"), run_id="r1")
    _, why_bin = store.ingest(raw(path="pkg/blob.py", quote="x = 1"), run_id="r1")
    assert "outside the workspace" in why_link
    assert "binary" in why_bin
    assert [d["path"] for d in store.dropped("r1")] == ["pkg/link.py", "pkg/blob.py"]


def test_whitespace_insensitive_quote_still_anchors(store):
    finding, reason = store.ingest(raw(quote="for i in range(len(items)+1):"), run_id="r1")
    assert reason is None and finding.span.start_line == 2


def test_duplicates_across_units_merge_verdicts_and_provenance(store):
    v1 = [{"verdict": "confirmed", "reason": "a", "agent": "refute 1/2"}]
    v2 = [{"verdict": "refuted", "reason": "b", "agent": "refute 2/2 other"}]
    first, _ = store.ingest(raw(verdicts=v1, severity="warning"), run_id="r1", provenance=["k1"])
    second, _ = store.ingest(raw(quote="for i in range(len(items) + 1):\n", verdicts=v2, severity="error"),
                             run_id="r1", provenance=["k2"])
    assert first.fingerprint == second.fingerprint
    listed = store.list()
    assert len(listed) == 1
    merged = listed[0]
    assert [v.verdict for v in merged.verdicts] == ["confirmed", "refuted"]
    assert merged.provenance == ["k1", "k2"]
    assert merged.severity == "error"
    assert merged.confidence == pytest.approx(0.5)


def test_dismissed_finding_does_not_come_back_on_a_rerun(store, ws, tmp_path):
    finding, _ = store.ingest(raw(), run_id="r1")
    store.dismiss(finding.fingerprint, "intended: sentinel element", "ana")
    record = json.loads((ws / ".refute" / "dismissed.json").read_text())
    entry = record[finding.fingerprint]
    assert entry["who"] == "ana" and entry["why"] == "intended: sentinel element"
    assert entry["path"] == "pkg/calc.py" and entry["title"] == "off by one" and "T" in entry["when"]
    # A re-run, even from another process's store on the same state, reports it again.
    other = FindingsStore(ws, tmp_path / "state")
    again, reason = other.ingest(raw(), run_id="r2")
    assert reason is None and again.review_state == "dismissed"
    assert other.list() == [] and other.list(run_id="r2") == []
    assert [f.review_state for f in other.list(include_dismissed=True)] == ["dismissed"]
    # A teammate with a fresh state dir but the committed file: still dismissed.
    fresh = FindingsStore(ws, tmp_path / "fresh-state")
    assert fresh.ingest(raw(), run_id="r3")[0].review_state == "dismissed"
    other.close(); fresh.close()


def test_restore_and_states(store, ws):
    finding, _ = store.ingest(raw(), run_id="r1")
    store.dismiss(finding.fingerprint, "noise", "bo")
    restored = store.restore(finding.fingerprint)
    assert restored.review_state == "new"
    assert json.loads((ws / ".refute" / "dismissed.json").read_text()) == {}
    assert store.set_state(finding.fingerprint, "accepted").review_state == "accepted"
    with pytest.raises(ValueError, match="dismiss"):
        store.set_state(finding.fingerprint, "dismissed")
    with pytest.raises(ValueError, match="reason"):
        store.dismiss(finding.fingerprint, " ", "bo")
    with pytest.raises(FindingNotFound, match="no finding"):
        store.dismiss("deadbeef", "why", "bo")


def test_edited_file_reanchors_and_goes_stale_when_the_quote_is_gone(store, ws):
    finding, _ = store.ingest(raw(), run_id="r1")
    path = ws / "pkg" / "calc.py"
    path.write_text('"""Sum things."""\n\n\n' + SOURCE)
    moved = store.get(finding.fingerprint)
    assert moved.span.start_line == 5 and moved.review_state == "new"
    path.write_text(SOURCE.replace("range(len(items) + 1)", "range(len(items))"))
    gone = store.list()[0]
    assert gone.review_state == "stale"
    path.write_text(SOURCE)
    assert store.list()[0].review_state == "new"


def test_a_finding_whose_fix_is_in_the_file_is_fixed_until_the_fix_is_undone(store, ws):
    fix = {"old": "for i in range(len(items) + 1):", "new": "for i in range(len(items)):"}
    finding, _ = store.ingest(raw(fix=fix), run_id="r1")
    path = ws / "pkg" / "calc.py"
    path.write_text(SOURCE.replace(fix["old"], fix["new"]))
    assert store.get(finding.fingerprint).review_state == "fixed"  # not stale: a person fixed it
    path.write_text(SOURCE)
    assert store.get(finding.fingerprint).review_state == "new"


def test_list_filters_by_run_and_path(store, ws):
    (ws / "other.py").write_text("import os\nos.system(cmd)\n")
    store.ingest(raw(), run_id="r1")
    store.ingest(raw(path="other.py", quote="os.system(cmd)", category="security", cwe="78"), run_id="r2")
    assert [f.path for f in store.list(run_id="r1")] == ["pkg/calc.py"]
    assert [f.path for f in store.list(path="pkg")] == ["pkg/calc.py"]
    sec = store.list(path="other.py")[0]
    assert sec.cwe == "CWE-78" and sec.category == "security"
    assert len(store.list()) == 2


def test_concurrent_dismissals_from_two_stores_are_not_lost(ws, tmp_path):
    stores = [FindingsStore(ws, tmp_path / "state") for _ in range(2)]
    (ws / "many.py").write_text("\n".join(f"value_{i} = {i}" for i in range(20)) + "\n")
    fps = [stores[0].ingest(raw(path="many.py", quote=f"value_{i} = {i}"), run_id="r")[0].fingerprint
           for i in range(20)]

    def work(store, chunk):
        for fp in chunk:
            store.dismiss(fp, "bulk", "ci")

    threads = [threading.Thread(target=work, args=(stores[i], fps[i::2])) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(json.loads((ws / ".refute" / "dismissed.json").read_text())) == set(fps)
    for s in stores:
        s.close()


def test_broken_dismissals_file_is_a_clear_error(store, ws):
    store.ingest(raw(), run_id="r1")
    (ws / ".refute").mkdir(exist_ok=True)
    (ws / ".refute" / "dismissed.json").write_text("{not json")
    with pytest.raises(ValueError, match="dismissed.json"):
        store.list()


def test_a_redacted_quote_anchors_on_the_secret_and_stays_redacted(store, ws):
    (ws / "settings.py").write_text("DEBUG = True\nDB_PASSWORD = 'hunter2-prod-9f8e7d'\n")
    quote = "DB_PASSWORD = '[REDACTED:password]'"
    finding, reason = store.ingest(raw(path="settings.py", quote=quote, category="security", cwe="CWE-798"),
                                   run_id="r1")
    assert reason is None and finding.span.start_line == 1 and finding.span.start_col == 0
    assert finding.span.end_col == len("DB_PASSWORD = 'hunter2-prod-9f8e7d'")
    assert "hunter2" not in json.dumps(finding.to_dict())
    _, bare = store.ingest(raw(path="settings.py", quote="[REDACTED:password]"), run_id="r1")
    assert "quote not found" in bare


def test_findings_in_secret_files_are_dropped(store, ws):
    (ws / ".env").write_text("TOKEN=abc\n")
    _, reason = store.ingest(raw(path=".env", quote="TOKEN=abc"), run_id="r1")
    assert "secret file" in reason


def test_two_processes_ingest_and_dismiss_at_once(ws, tmp_path):
    import subprocess
    import sys
    import textwrap

    (ws / "many.py").write_text("\n".join(f"value_{i} = {i}" for i in range(40)) + "\n")
    worker = textwrap.dedent('''
        import sys
        from pathlib import Path
        from refute.orchestration.verification.findings import FindingsStore
        ws, state, start = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
        store = FindingsStore(ws, state)
        for i in range(start, 40, 2):
            f, why = store.ingest({"path": "many.py", "quote": f"value_{i} = {i}", "title": "t"}, run_id="r")
            assert why is None, why
            store.dismiss(f.fingerprint, "bulk", "proc" + str(start))
        store.close()
    ''')
    procs = [subprocess.Popen([sys.executable, "-c", worker, str(ws), str(tmp_path / "state"), str(start)])
             for start in (0, 1)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    store = FindingsStore(ws, tmp_path / "state")
    assert len(store.list(include_dismissed=True)) == 40
    assert len(json.loads((ws / ".refute" / "dismissed.json").read_text())) == 40
    assert store.list() == []
    store.close()


def test_verifiers_only_lower_severity_and_the_latest_verified_wins(store):
    # Issue 12: a finding first reported as error stayed error after verifiers lowered it.
    confirm = {"verdict": "confirmed", "reason": "real", "agent": "refute 1/2"}
    first, _ = store.ingest(raw(verdicts=[confirm], severity="error"), run_id="r1")
    assert first.severity == "error"
    lowered = [dict(confirm, severity="info", agent="refute 1/2 b"), dict(confirm, severity="warning", agent="r 2/2")]
    second, _ = store.ingest(raw(verdicts=lowered, severity="error"), run_id="r2")
    assert second.severity == "warning" and store.list()[0].severity == "warning"
    raised = [dict(confirm, severity="error", agent="x"), dict(confirm, severity="error", agent="y")]
    third, _ = store.ingest(raw(verdicts=raised, severity="hint"), run_id="r3")
    assert third.severity == "hint"  # a verifier never raises it
