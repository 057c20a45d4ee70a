"""Workflow files (code lenses, script problems as diagnostics), settings, and pull
diagnostics for clients that ask for them."""

from lsprotocol import types
from pytest_lsp import client_capabilities

import lsp_harness as h

MIGRATE = ".refute/workflows/migrate.py"


async def test_code_lenses_on_workflow_files(client, workspace):
    doc = h.open_doc(client, MIGRATE)
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(
        text_document=types.TextDocumentIdentifier(uri=doc)))
    assert [(lens.command.title, lens.command.command) for lens in lenses] == [
        ("▶ Run migrate", "refute.run"), ("Plan", "refute.plan")]
    assert lenses[0].range.start.line == 2  # the `meta = {` line
    plan = await h.command(client, "refute.plan", lenses[1].command.arguments[0])
    assert plan["workflow"] == "migrate" and plan["calls"] == 1
    app = h.open_doc(client, "app.py")
    assert await client.text_document_code_lens_async(types.CodeLensParams(
        text_document=types.TextDocumentIdentifier(uri=app))) is None


async def test_script_problems_appear_on_their_lines(client, workspace):
    doc = h.open_doc(client, MIGRATE)
    text = client.open_docs[doc][1]
    # A sandbox violation (dunder attribute access) found without running anything.
    broken = text.replace('    phase("edit")\n', '    phase("edit")\n    kind = args.__class__\n')
    h.change_doc(client, doc, broken)
    diags = await h.wait_for(lambda: client.diagnostics.get(doc), what="script diagnostics")
    (problem,) = diags
    assert problem.source == "refute-workflow" and problem.severity == types.DiagnosticSeverity.Error
    assert problem.range.start.line == broken.split("\n").index("    kind = args.__class__")
    assert "__class__" in problem.message
    h.change_doc(client, doc, text + "\ndef broken(:\n")
    await h.wait_for(lambda: any("SyntaxError" in d.message or "syntax" in d.message.lower()
                                 for d in client.diagnostics.get(doc, [])), what="syntax error diagnostic")
    h.change_doc(client, doc, text)
    await h.wait_for(lambda: list(client.diagnostics.get(doc, [None])) == [], what="problems cleared")


async def test_settings_from_configuration_and_unknown_keys(tmp_path, profile):
    ws = h.make_workspace(tmp_path)
    client = await h.start(ws, profile, init={"provider": "scripted", "colour": "blue"})
    try:
        assert await h.command(client, "refute.runs", {}) == []  # the engine is up with the first settings
        # workspace/configuration (section "refute") supplies the fixture and thresholds.
        client.set_configuration({"scriptedFixture": ".refute/answers.py:answer", "approvalThresholdCalls": 1000,
                                  "maxConcurrency": "many"}, section="refute")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await h.wait_for(lambda: any("maxConcurrency" in m.message for m in client.log_messages), what="type warning")
        warnings = [m.message for m in client.log_messages if m.type == types.MessageType.Warning]
        assert any("unknown setting refute.colour" in w for w in warnings)
        await h.wait_for(lambda: any("settings applied" in m.message for m in client.log_messages), what="applied")
        run_id = (await h.command(client, "refute.run", {"workflow": "audit", "scope": {"paths": ["app.py"]}}))["runId"]
        await h.wait_run_end(client, run_id)
        assert [u for u in client.run_updates if u["runId"] == run_id][-1]["status"] == "completed"
    finally:
        await h.stop(client)


async def start_pull_client(tmp_path):
    """A VS Code-like client that pulls diagnostics (document and workspace), on a new workspace."""
    caps = client_capabilities("visual_studio_code")
    caps.text_document.diagnostic = types.DiagnosticClientCapabilities(dynamic_registration=False)
    caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    ws = h.make_workspace(tmp_path)
    return ws, await h.start(ws, caps)


async def test_pull_diagnostics_for_clients_that_ask(tmp_path):
    ws, client = await start_pull_client(tmp_path)
    try:
        app = h.open_doc(client, "app.py")
        run_id = (await h.command(client, "refute.run", {"workflow": "audit", "scope": {"paths": ["app.py"]}}))["runId"]
        await h.wait_run_end(client, run_id)
        await h.wait_for(lambda: client.diagnostic_refresh_count > 0, what="a diagnostic refresh request")
        report = await client.text_document_diagnostic_async(types.DocumentDiagnosticParams(
            text_document=types.TextDocumentIdentifier(uri=app)))
        assert sorted(d.code for d in report.items) == ["bug", "security"]
        assert all(d.data["runId"] == run_id for d in report.items)
        assert app not in client.diagnostics  # pull only: nothing pushed twice
    finally:
        await h.stop(client)


async def test_workspace_pull_lists_every_finding_with_no_file_open(tmp_path):
    """Issue 16: after a workspace audit with no file open, VS Code's Problems panel was
    empty because the server answered only `textDocument/diagnostic`."""
    ws, client = await start_pull_client(tmp_path)
    try:
        assert client.init_result.capabilities.diagnostic_provider.workspace_diagnostics is True
        run_id = (await h.command(client, "refute.run", {"workflow": "audit"}))["runId"]
        await h.wait_run_end(client, run_id)
        await h.wait_for(lambda: client.diagnostic_refresh_count > 0, what="a diagnostic refresh request")
        report = await client.workspace_diagnostic_async(types.WorkspaceDiagnosticParams(previous_result_ids=[]))
        by_uri = {item.uri: item for item in report.items}
        app, util = h.uri(ws, "app.py"), h.uri(ws, "lib/util.py")
        assert sorted(d.code for d in by_uri[app].items) == ["bug", "security"]
        assert [d.code for d in by_uri[util].items] == ["security"]
        assert all(d.data["runId"] == run_id for item in report.items for d in item.items)
        # The client's next poll sends what it holds: nothing changed, nothing re-sent.
        again = await client.workspace_diagnostic_async(types.WorkspaceDiagnosticParams(previous_result_ids=[
            types.PreviousResultId(uri=item.uri, value=item.result_id) for item in report.items]))
        assert {item.uri: item.kind for item in again.items} == {item.uri: "unchanged" for item in report.items}
        # A dismissal changes one file: only that file comes back in full, one fewer finding.
        fp = by_uri[util].items[0].data["fingerprint"]
        await h.command(client, "refute.dismiss", {"fingerprint": fp, "reason": "test"})
        third = await client.workspace_diagnostic_async(types.WorkspaceDiagnosticParams(previous_result_ids=[
            types.PreviousResultId(uri=item.uri, value=item.result_id) for item in report.items]))
        kinds = {item.uri: item.kind for item in third.items}
        assert kinds[util] == "full" and kinds[app] == "unchanged"
        assert [list(item.items) for item in third.items if item.uri == util] == [[]]
    finally:
        await h.stop(client)


async def test_new_workflow_is_written_shown_and_not_run(client, workspace):
    result = await h.command(client, "refute.newWorkflow", {"request": "list the TODO comments"})
    path = result["path"]
    assert path.startswith(".refute/workflows/") and path.endswith(".py")
    script = (workspace / path).read_text()
    assert 'def main(args):' in script and "refute: problem" not in script
    assert client.shown_documents[-1].uri == h.uri(workspace, path)
    # Written, not run: the only run is the one that wrote it.
    runs = await h.command(client, "refute.runs", {})
    assert [r["workflow"] for r in runs] == ["new_workflow"]
    doc = h.open_doc(client, path)
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(
        text_document=types.TextDocumentIdentifier(uri=doc)))
    assert list(lenses[0].command.arguments) == [{"workflow": path.rsplit("/", 1)[1][:-3]}]


async def test_code_lenses_on_bundled_workflows(client, workspace):
    from refute.server.lsp.code_lens import bundled_dir

    async def lenses_of(path):
        doc = h.uri(path.parent, path.name)
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=doc, language_id="python", version=1, text=path.read_text())))
        return await client.text_document_code_lens_async(types.CodeLensParams(
            text_document=types.TextDocumentIdentifier(uri=doc)))

    lenses = await lenses_of(bundled_dir() / "audit.py")
    assert [lens.command.title for lens in lenses] == ["▶ Run audit", "Plan"]
    assert list(lenses[0].command.arguments) == [{"workflow": "audit"}]
    # The workspace's migrate.py overrides the bundled one: its lens runs the bundled file by path.
    bundled_migrate = bundled_dir() / "migrate.py"
    lenses = await lenses_of(bundled_migrate)
    assert list(lenses[0].command.arguments) == [{"workflow": str(bundled_migrate)}]


async def test_findings_command_lists_every_finding_with_its_state(client, workspace):
    """The Findings views (VS Code tree, Emacs, any client) list findings with review
    states: dismissed ones stay listed (filter "dismissed"), not only what is shown."""
    run_id = (await h.command(client, "refute.run", {"workflow": "audit"}))["runId"]
    await h.wait_run_end(client, run_id)
    rows = await h.command(client, "refute.findings", {})
    assert sorted((r["path"], r["category"], r["state"]) for r in rows) == [
        ("app.py", "bug", "new"), ("app.py", "security", "new"), ("lib/util.py", "security", "new")]
    row = next(r for r in rows if r["path"] == "lib/util.py")
    assert row["runId"] == run_id and row["confirmed"] == row["verdicts"] == 2 and row["hasFix"] and row["line"] == 1
    await h.command(client, "refute.dismiss", {"fingerprint": row["fingerprint"], "reason": "test"})
    dismissed = await h.command(client, "refute.findings", {"state": "dismissed"})
    assert [r["fingerprint"] for r in dismissed] == [row["fingerprint"]]
    assert len(await h.command(client, "refute.findings", {"state": "new"})) == 2
