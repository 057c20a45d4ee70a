"""Re-anchoring findings by quote against the live buffer."""

from refute.orchestration.model import Span, TextEdit
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


def test_documents_maps_paths_and_uris_both_ways_and_remembers_only_workspace_files(tmp_path):
    from pygls.uris import from_fs_path

    from refute.server.lsp.documents import Documents

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    docs = Documents(tmp_path)
    uri = docs.uri("pkg/a.py")
    assert uri == from_fs_path(str(tmp_path.resolve() / "pkg" / "a.py"))
    assert docs.path(uri) == "pkg/a.py" and docs.path(uri) == "pkg/a.py"  # the second answer comes from memory
    assert docs.uri("pkg/a.py") == uri
    # A symlinked folder inside the workspace resolves to the real file's path.
    (tmp_path / "link").symlink_to(tmp_path / "pkg")
    assert docs.path(from_fs_path(str(tmp_path / "link" / "a.py"))) == "pkg/a.py"
    # Outside the workspace: None, and not remembered, so a link created later counts.
    outside = tmp_path.parent / f"{tmp_path.name}-outside.py"
    outside_uri = from_fs_path(str(outside))
    assert docs.path(outside_uri) is None
    assert docs.path("untitled:Untitled-1") is None
    outside.symlink_to(tmp_path / "pkg" / "a.py")
    try:
        assert docs.path(outside_uri) == "pkg/a.py"
    finally:
        outside.unlink()


def test_applying_the_suggested_fix_hides_the_finding_and_undo_shows_it_again():
    index = FindingIndex()
    index.add(make_finding(), SOURCE)
    assert [t.finding.fingerprint for t in index.visible("app.py")] == ["fp-1"]
    fixed = SOURCE.replace("os.system(cmd)", "subprocess.run(cmd, shell=False)")
    assert index.reanchor("app.py", fixed) is True
    assert index.visible("app.py") == []
    assert index.reanchor("app.py", SOURCE) is True  # undo
    assert [t.finding.fingerprint for t in index.visible("app.py")] == ["fp-1"]


def test_a_fix_that_keeps_the_quoted_code_still_counts_as_applied():
    finding = make_finding(quote="return total / len(values)", fix=False)
    finding.fix = TextEdit("app.py", "return total / len(values)", "return total / len(values) if values else 0.0")
    text = "def average(values):\n    total = sum(values)\n    return total / len(values)\n"
    index = FindingIndex()
    index.add(finding, text)
    assert len(index.visible("app.py")) == 1
    index.reanchor("app.py", text.replace("len(values)\n", "len(values) if values else 0.0\n"))
    assert index.visible("app.py") == []  # the quote is still there, but so is the fix
