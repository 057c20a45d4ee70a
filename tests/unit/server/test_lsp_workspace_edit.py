"""Proposed whole-file texts become minimal line edits; fixes anchor in the buffer."""

from hypothesis import given, settings, strategies as st

from refute.orchestration.model import Span
from refute.server.lsp.positions import UTF8, UTF16
from refute.server.lsp.workspace_edit import apply_text_edits, diff_edits, fix_edit, workspace_edit

lines = st.lists(st.sampled_from(["a\n", "b\n", "😀 c\n", "d", "é\n", "\n"]), max_size=8)


@settings(max_examples=200)
@given(lines, lines, st.sampled_from([UTF8, UTF16]))
def test_diff_edits_reproduce_the_new_text(old, new, encoding):
    old_text, new_text = "".join(old), "".join(new)
    assert apply_text_edits(old_text, diff_edits(old_text, new_text, encoding), encoding) == new_text


def test_only_changed_hunks_are_sent():
    old = "".join(f"line {i}\n" for i in range(100))
    new = old.replace("line 50\n", "LINE 50\n")
    edits = diff_edits(old, new, UTF16)
    assert len(edits) == 1 and edits[0].range.start.line == 50 and edits[0].new_text == "LINE 50\n"


def test_fix_edit_uses_the_occurrence_near_the_diagnostic():
    text = "f(x)\ng(1)\nf(x)\n"
    edit = fix_edit(text, "f(x)", "h(x)", Span(2, 0, 2, 4), UTF16)
    assert edit.range.start.line == 2
    assert apply_text_edits(text, [edit], UTF16) == "f(x)\ng(1)\nh(x)\n"
    assert fix_edit(text, "zzz", "y", None, UTF16) is None


def test_workspace_edit_shapes():
    plain = workspace_edit("file:///a.py", [], version=3, document_changes=False)
    assert plain.changes == {"file:///a.py": []} and plain.document_changes is None
    versioned = workspace_edit("file:///a.py", [], version=3, document_changes=True, create=True)
    assert versioned.document_changes[0].kind == "create"
    assert versioned.document_changes[1].text_document.version == 3
