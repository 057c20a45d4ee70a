"""Re-anchoring findings by quote against the live buffer."""

from refute.orchestration.model import Span
from refute.server.lsp.findings_index import FindingIndex, anchor_near

from lsp_unit_helpers import SOURCE, make_finding


def test_nearest_occurrence_wins():
    text = "x = f(a)\ny = f(a)\nz = f(a)\n"
    assert anchor_near(text, "f(a)", Span(1, 4, 1, 8)) == Span(1, 4, 1, 8)
    assert anchor_near(text, "f(a)", Span(2, 0, 2, 0)) == Span(2, 4, 2, 8)


def test_whitespace_insensitive_fallback_and_missing_quote():
    text = "call(  a,\n   b)\n"
    assert anchor_near(text, "call( a, b)", None) == Span(0, 0, 1, 5)
    assert anchor_near(text, "nothere", None) is None
    assert anchor_near(text, "   ", None) is None


def test_edit_above_moves_the_finding_and_deleting_the_quote_hides_it():
    index = FindingIndex()
    index.add(make_finding(), SOURCE)
    assert index.get("fp-1").span.start_line == 4
    assert index.reanchor("app.py", "# header\n" + SOURCE) is True
    assert index.get("fp-1").span.start_line == 5
    assert index.reanchor("app.py", SOURCE.replace("    os.system(cmd)  # 😀\n", "").replace("return os.system(cmd)", "return 0")) is True
    assert index.get("fp-1").stale and index.visible("app.py") == []
    # Undo brings it back.
    index.reanchor("app.py", SOURCE)
    assert index.visible("app.py")[0].span.start_line == 4


def test_same_fingerprint_replaces_and_remove_cleans_up():
    index = FindingIndex()
    index.add(make_finding(), None)
    newer = make_finding()
    newer.run_id = "run-2"
    index.add(newer, None)
    assert len(index) == 1 and index.get("fp-1").finding.run_id == "run-2"
    assert index.remove("fp-1") is not None
    assert index.paths() == [] and index.remove("fp-1") is None


def test_all_lists_every_tracked_finding():
    index = FindingIndex()
    index.add(make_finding(fp="a"), None)
    index.add(make_finding(fp="b", path="lib.py"), None)
    assert sorted(t.finding.fingerprint for t in index.all()) == ["a", "b"]
