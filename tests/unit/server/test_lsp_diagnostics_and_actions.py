"""Findings -> diagnostics with a self-contained payload -> code actions from it alone."""

from lsprotocol import types

from refute.server.lsp.code_actions import actions_for_diagnostic
from refute.server.lsp.diagnostics import SOURCE as DIAG_SOURCE, script_diagnostic, to_diagnostic
from refute.server.lsp.findings_index import FindingIndex
from refute.server.lsp.positions import UTF8, UTF16
from refute.server.lsp.workspace_edit import apply_text_edits

from lsp_unit_helpers import SOURCE, make_finding

URI = "file:///ws/app.py"


def _diag(encoding=UTF16, **kw):
    index = FindingIndex()
    tracked = index.add(make_finding(**kw), SOURCE)
    return to_diagnostic(tracked, URI, SOURCE.split("\n"), encoding)


def test_diagnostic_fields():
    d = _diag()
    assert d.source == DIAG_SOURCE and d.code == "security"
    assert d.severity == types.DiagnosticSeverity.Error
    assert d.message.startswith("Shell injection (1/2 refuters confirmed)") and d.message.endswith("[scripted]")
    assert d.range.start == types.Position(4, 4) and d.range.end == types.Position(4, 18)
    assert d.related_information is None  # the hover lists the verdicts, once
    assert d.data["fingerprint"] == "fp-1" and d.data["runId"] == "run-1"
    assert d.data["fix"] == {"oldText": "os.system(cmd)", "newText": "subprocess.run(cmd, shell=False)", "path": "app.py"}


def test_real_provider_is_not_labelled_scripted():
    assert "[scripted]" not in _diag(provider="anthropic").message


def test_fix_action_from_payload_only():
    d = _diag()
    actions = actions_for_diagnostic(d, URI, SOURCE, 7, UTF16, document_changes=False)
    titles = [a.title for a in actions]
    assert titles[0].startswith("refute: apply fix") and actions[0].is_preferred
    assert [a.command.command for a in actions[1:]] == ["refute.dismiss", "refute.showEvidence", "refute.reverify"]
    # Issue 16: every action names its finding (several can share a line).
    assert titles[1:] == ["refute: dismiss: Shell injection", "refute: show evidence: Shell injection",
                          "refute: re-verify: Shell injection"]
    assert actions[1].command.arguments == [{"fingerprint": "fp-1", "reason": "dismissed from the editor"}]
    edits = actions[0].edit.changes[URI]
    fixed = apply_text_edits(SOURCE, edits, UTF16)
    # Only the occurrence under the diagnostic changes, not the one on the next line.
    assert "    subprocess.run(cmd, shell=False)  # 😀\n    return os.system(cmd)\n" in fixed


def test_fix_action_after_the_buffer_moved_on():
    d = _diag()
    moved = "# new first line\n" + SOURCE
    actions = actions_for_diagnostic(d, URI, moved, 8, UTF16, document_changes=True)
    doc_edit = actions[0].edit.document_changes[0]
    assert doc_edit.text_document.version == 8 and doc_edit.edits[0].range.start.line == 5


def test_no_fix_action_when_the_old_text_is_gone_or_payload_is_foreign():
    d = _diag()
    actions = actions_for_diagnostic(d, URI, "nothing here\n", 1, UTF16, document_changes=False)
    assert [a.command.command for a in actions] == ["refute.dismiss", "refute.showEvidence", "refute.reverify"]
    foreign = types.Diagnostic(range=d.range, message="x", source="pyright", data={"fingerprint": "fp-1"})
    assert actions_for_diagnostic(foreign, URI, SOURCE, 1, UTF16, False) == []
    garbage = types.Diagnostic(range=d.range, message="x", source=DIAG_SOURCE, data="nope")
    assert actions_for_diagnostic(garbage, URI, SOURCE, 1, UTF16, False) == []


def test_utf8_client_ranges():
    d = _diag(encoding=UTF8, quote="# 😀", fix=False)
    line = SOURCE.split("\n")[4]
    assert d.range.start.character == len(line[: line.index("#")].encode())
    assert d.range.end.character == len(line.encode())


def test_script_problem_covers_the_rest_of_the_line():
    d = script_diagnostic(1, 4, "SyntaxError: invalid syntax", ["meta = {}", "def main(args) pass"], UTF16)
    assert (d.range.start.character, d.range.end.character) == (4, 19) and d.source == "refute-workflow"
