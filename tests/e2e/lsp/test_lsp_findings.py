"""Working with findings in the editor: code actions, applyEdit, dismiss, hover,
re-anchoring on change, evidence documents, reports."""

import json

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

import lsp_harness as h

AUDIT_APP = {"workflow": "audit", "scope": {"paths": ["app.py"]}}


async def _audited(client) -> tuple[str, str, list[types.Diagnostic]]:
    app = h.open_doc(client, "app.py")
    run_id = (await h.command(client, "refute.run", AUDIT_APP))["runId"]
    await h.wait_run_end(client, run_id)
    diags = await h.wait_for(lambda: len(h.refute_diagnostics(client, app)) == 2 and h.refute_diagnostics(client, app),
                             what="app.py diagnostics")
    return app, run_id, diags


def _by_code(diags, code):
    return next(d for d in diags if d.code == code)


async def _actions(client, doc_uri, diag, only=None):
    return await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=doc_uri), range=diag.range,
        context=types.CodeActionContext(diagnostics=[diag], only=only)))


async def test_quick_fix_from_the_payload_removes_the_finding(client):
    app, _, diags = await _audited(client)
    security = _by_code(diags, "security")
    actions = await _actions(client, app, security)
    fix = actions[0]
    assert fix.is_preferred and fix.kind == types.CodeActionKind.QuickFix and fix.title.startswith("refute: apply fix")
    assert [a.command.command for a in actions[1:]] == ["refute.dismiss", "refute.showEvidence", "refute.reverify"]
    # Apply it as the editor would (the edit is in the action), then the quote is gone.
    edits = fix.edit.changes[app] if fix.edit.changes else fix.edit.document_changes[0].edits
    text = client.open_docs[app][1]
    fixed = h.apply_text_edits(text, edits, client.encoding)
    assert "    subprocess.run(cmd, check=True)\n" in fixed and "os.system" not in fixed
    h.change_doc(client, app, fixed)
    await h.wait_for(lambda: [d.code for d in h.refute_diagnostics(client, app)] == ["bug"], what="fixed finding gone")


async def test_findings_follow_edits_in_the_buffer(client):
    app, _, diags = await _audited(client)
    assert _by_code(diags, "bug").range.start.line == 10
    text = client.open_docs[app][1]
    h.change_doc(client, app, "# a new header line\n# and another\n" + text)
    await h.wait_for(lambda: any(d.code == "bug" and d.range.start.line == 12 for d in h.refute_diagnostics(client, app)),
                     what="re-anchored diagnostic")
    # Deleting the quoted code hides the finding; undo brings it back.
    h.change_doc(client, app, text.replace("range(len(items) + 1)", "range(len(items))"))
    await h.wait_for(lambda: [d.code for d in h.refute_diagnostics(client, app)] == ["security"], what="stale finding hidden")
    h.change_doc(client, app, text)
    await h.wait_for(lambda: len(h.refute_diagnostics(client, app)) == 2, what="finding back after undo")


async def test_dismiss_is_immediate_and_shared(client, workspace):
    app, _, diags = await _audited(client)
    bug = _by_code(diags, "bug")
    (dismiss,) = [a for a in await _actions(client, app, bug) if a.command and a.command.command == "refute.dismiss"]
    await client.workspace_execute_command_async(types.ExecuteCommandParams(
        command="refute.dismiss", arguments=[{**dismiss.command.arguments[0], "reason": "items has a sentinel"}]))
    # Published before the command returned: no debounce for dismissals.
    assert [d.code for d in h.refute_diagnostics(client, app)] == ["security"]
    shared = json.loads((workspace / ".refute" / "dismissed.json").read_text())
    assert shared[bug.data["fingerprint"]]["why"] == "items has a sentinel"
    # A new run finds it again: it stays dismissed.
    run_id = (await h.command(client, "refute.run", AUDIT_APP))["runId"]
    await h.wait_run_end(client, run_id)
    await h.wait_for(lambda: any(d.data["runId"] == run_id for d in h.refute_diagnostics(client, app)),
                     what="the re-run's diagnostics")
    assert [d.code for d in h.refute_diagnostics(client, app)] == ["security"]
    await h.command(client, "refute.restore", {"fingerprint": bug.data["fingerprint"]})
    assert len(h.refute_diagnostics(client, app)) == 2


async def test_hover_shows_verdicts_and_provider(client):
    app, run_id, diags = await _audited(client)
    security = _by_code(diags, "security")
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=app), position=security.range.start))
    text = hover.contents.value
    assert "**refute: Shell command built from input**" in text
    assert "2 of 2 refuters confirmed" in text and "confidence" in text and "cost $" in text
    assert "scripted" in text and run_id in text
    nothing = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=app), position=types.Position(0, 0)))
    assert nothing is None


async def test_show_evidence_writes_and_opens_a_document(client, workspace):
    _, _, diags = await _audited(client)
    fp = _by_code(diags, "security").data["fingerprint"]
    result = await h.command(client, "refute.showEvidence", {"fingerprint": fp})
    assert result["path"] == f".refute/evidence/shell-command-built-from-input-{fp[:8]}.md" and result["shown"]
    page = (workspace / result["path"]).read_text()
    assert "## Verdicts and reasons" in page and "the quoted call really receives caller input" in page
    assert client.shown_documents[-1].uri == result["uri"]
    with pytest.raises(JsonRpcException, match="no finding with fingerprint"):
        await h.command(client, "refute.showEvidence", {"fingerprint": "0" * 32})


async def test_report_and_sarif_export(client, workspace):
    _, run_id, _ = await _audited(client)
    report = await h.command(client, "refute.report", {"runId": run_id, "format": "md"})
    assert report["format"] == "md" and "Shell command built from input" in report["content"]
    assert (workspace / report["path"]).read_text() == report["content"]
    sarif = await h.command(client, "refute.exportSarif", {})
    assert sarif["path"] == f".refute/reports/{run_id}.sarif"
    doc = json.loads((workspace / sarif["path"]).read_text())
    assert doc["version"] == "2.1.0" and len(doc["runs"][0]["results"]) == 2


async def test_proposed_edits_apply_through_workspace_apply_edit(client, workspace):
    app = h.open_doc(client, "app.py")
    run_id = (await h.command(client, "refute.run", {"workflow": "migrate"}))["runId"]
    await h.wait_run_end(client, run_id)
    # The source action lists the run's proposed edits for this file.
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=app),
        range=types.Range(types.Position(0, 0), types.Position(0, 0)),
        context=types.CodeActionContext(diagnostics=[], only=["source.refute.applyEdits"])))
    (apply_action,) = actions
    assert apply_action.kind == "source.refute.applyEdits"
    result = await h.command(client, apply_action.command.command, apply_action.command.arguments[0])
    assert result == {"applied": ["app.py"], "refused": []}
    (request,) = client.edit_requests
    assert "subprocess.run(cmd, check=True)" in client.open_docs[app][1]
    assert "os.system(cmd)" not in client.open_docs[app][1]
    assert request.label.startswith("refute: ")
    assert client.edit_requests[0].edit.document_changes or client.edit_requests[0].edit.changes
    # Applied once: a second attempt has nothing left to apply.
    again = await h.command(client, "refute.applyEdits", {"runId": run_id})
    assert again["applied"] == [] and "no proposed edits" in again["refused"][0]["message"]


async def test_apply_refused_when_the_file_changed_since(client, workspace):
    run_id = (await h.command(client, "refute.run", {"workflow": "migrate"}))["runId"]
    await h.wait_run_end(client, run_id)
    (workspace / "app.py").write_text((workspace / "app.py").read_text() + "\n# edited by hand\n")
    result = await h.command(client, "refute.applyEdits", {"runId": run_id, "path": "app.py"})
    assert result["applied"] == [] and "changed since the edit was proposed" in result["refused"][0]["message"]
    assert client.edit_requests == []
    assert any("not applied" in m.message for m in client.messages)


def _verdict_count(message: str) -> int:
    import re

    found = re.search(r"\((\d+)/(\d+) refuters confirmed\)", message)
    return int(found.group(2)) if found else 0


async def test_reverify_from_the_code_action_runs_fresh_refuters(client):
    app, first_run, diags = await _audited(client)
    security = _by_code(diags, "security")
    (action,) = [a for a in await _actions(client, app, security) if a.command and a.command.command == "refute.reverify"]
    result = await h.command(client, "refute.reverify", action.command.arguments[0])
    assert result["runId"] != first_run
    token = await h.wait_run_end(client, result["runId"])
    assert client.progress_reports[token][-1].message.startswith("completed"), client.progress_reports[token][-1].message
    assert client.progress_reports[token][0].title == "refute: reverify"
    # The finding is still shown, now with the re-check's verdicts.
    diag = await h.wait_for(lambda: next((d for d in h.refute_diagnostics(client, app)
                                          if d.data["fingerprint"] == security.data["fingerprint"]
                                          and _verdict_count(d.message) > 2), None),
                            what="the re-verified finding with more verdicts")
    assert "refuters confirmed" in diag.message
