"""Runs through the language server: progress, streamed diagnostics, cancel, two runs at
once, the approval gate, bad params, and a restart that shows earlier findings."""

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

import lsp_harness as h

AUDIT_APP = {"workflow": "audit", "scope": {"paths": ["app.py", "lib"]}}


async def test_run_progress_and_diagnostics_with_data(client, workspace, profile):
    app = h.open_doc(client, "app.py")
    result = await h.command(client, "refute.run", AUDIT_APP)
    run_id = result["runId"]
    token = await h.wait_run_end(client, run_id)

    reports = client.progress_reports[token]
    assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
    assert reports[0].title == "refute: audit"
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    assert reports[-1].message.startswith("completed: "), reports[-1].message
    assert any(isinstance(r, types.WorkDoneProgressReport) and "calls" in (r.message or "") for r in reports)

    statuses = [u["status"] for u in client.run_updates if u["runId"] == run_id]
    assert statuses[-1] == "completed"
    last = [u for u in client.run_updates if u["runId"] == run_id][-1]
    assert last["workflow"] == "audit" and last["callsDone"] >= 4 and last["callsFailed"] == 0

    diags = await h.wait_for(lambda: len(h.refute_diagnostics(client, app)) == 2 and h.refute_diagnostics(client, app),
                             what="two diagnostics in app.py")
    by_code = {d.code: d for d in diags}
    security = by_code["security"]
    assert security.severity == types.DiagnosticSeverity.Error
    assert security.message.startswith("Shell command built from input") and "[scripted]" in security.message
    assert security.range.start == types.Position(5, 4) and security.range.end == types.Position(5, 18)
    assert security.data["runId"] == run_id and len(security.data["fingerprint"]) == 32
    assert security.data["fix"]["newText"] == "subprocess.run(cmd, check=True)"
    # The verdicts are listed once, by the hover (VS Code puts relatedInformation in the hover too).
    assert security.related_information is None and "(2/2 refuters confirmed)" in security.message
    assert by_code["bug"].severity == types.DiagnosticSeverity.Warning

    # lib/util.py was never opened: its diagnostics come from the file on disk, and the
    # column after the emoji is in the negotiated encoding (utf-8 for Neovim, utf-16 for VS Code).
    util = h.uri(workspace, "lib/util.py")
    (eval_diag,) = await h.wait_for(lambda: h.refute_diagnostics(client, util), what="util.py diagnostic")
    line = (workspace / "lib/util.py").read_text().split("\n")[1]
    prefix = line[: line.index("eval(expr)")]
    expected = len(prefix.encode("utf-8")) if client.encoding == "utf-8" else len(prefix.encode("utf-16-le")) // 2
    assert eval_diag.range.start.character == expected


async def test_two_runs_at_once(client, workspace):
    app = h.open_doc(client, "app.py")
    first = await h.command(client, "refute.run", {"workflow": "audit", "scope": {"paths": ["app.py"]}})
    second = await h.command(client, "refute.run", {"workflow": "audit", "scope": {"paths": ["lib/util.py"]}})
    assert first["runId"] != second["runId"]
    token_a = await h.wait_run_end(client, first["runId"])
    token_b = await h.wait_run_end(client, second["runId"])
    assert token_a != token_b
    for token in (token_a, token_b):
        assert h.progress_kinds(client, token)[0] == "begin" and h.progress_kinds(client, token)[-1] == "end"
    await h.wait_for(lambda: len(h.refute_diagnostics(client, app)) == 2, what="app.py diagnostics")
    await h.wait_for(lambda: h.refute_diagnostics(client, h.uri(workspace, "lib/util.py")), what="util.py diagnostics")
    runs = await h.command(client, "refute.runs", {})
    assert {first["runId"], second["runId"]} <= {r["id"] for r in runs}


async def test_cancel_mid_run_by_progress_and_by_command(tmp_path, profile):
    ws = h.make_workspace(tmp_path, extra_files=30)
    client = await h.start(ws, profile, init=h.options(scriptedLatencyS=0.2, maxConcurrency=2))
    try:
        for how in ("progress", "command"):
            run_id = (await h.command(client, "refute.run", {"workflow": "audit"}))["runId"]
            await h.wait_for(lambda: any(u["runId"] == run_id and u["callsDone"] >= 1 for u in client.run_updates),
                             what="the first finished call")
            token = h.run_token(client, run_id)
            if how == "progress":
                # The person presses cancel on the progress notification.
                client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
            else:
                await h.command(client, "refute.cancel", {"runId": run_id})
            await h.wait_run_end(client, run_id)
            final = [u for u in client.run_updates if u["runId"] == run_id][-1]
            assert final["status"] == "cancelled", how
            assert final["callsDone"] < 30, how  # it really stopped midway
            assert client.progress_reports[token][-1].message.startswith("cancelled"), how
            runs = await h.command(client, "refute.runs", {})  # still serving
            assert [r["status"] for r in runs if r["id"] == run_id] == ["cancelled"], how
    finally:
        await h.stop(client)


async def test_approval_gate(tmp_path, profile):
    ws = h.make_workspace(tmp_path)
    client = await h.start(ws, profile, init=h.options(approvalThresholdCalls=1))
    try:
        for answer in ("Cancel", None, "Plan only"):  # None: the prompt was dismissed
            client.approval_answer = answer
            result = await h.command(client, "refute.run", AUDIT_APP)
            asked = client.message_requests[-1]
            assert [a.title for a in asked.actions] == ["Run", "Plan only", "Cancel"]
            assert "agent calls (threshold 1)" in asked.message
            assert result["declined"] is True, answer
            if answer == "Plan only":
                assert result["plan"]["calls"] >= 2 and result["plan"]["workflow"] == "audit"
            assert client.progress_reports == {}  # no run started, no call made
            assert await h.command(client, "refute.runs", {}) == []
        client.approval_answer = "Run"
        result = await h.command(client, "refute.run", AUDIT_APP)
        assert len(client.message_requests) == 4
        await h.wait_run_end(client, result["runId"])
    finally:
        await h.stop(client)


async def test_bad_params_are_errors_not_crashes(client):
    bad = [
        ("refute.run", {}),
        ("refute.run", {"workflow": "audit", "scope": {"paths": ["../outside"]}}),
        ("refute.run", {"workflow": "no-such-workflow"}),
        ("refute.cancel", {"runId": 7}),
        ("refute.report", {"runId": "x", "format": "pdf"}),
        ("refute.dismiss", {}),
    ]
    for name, arg in bad:
        with pytest.raises(JsonRpcException) as info:
            await h.command(client, name, arg)
        assert name in str(info.value) or "no workflow named" in str(info.value), str(info.value)
    with pytest.raises(JsonRpcException, match="must be an array holding one object"):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command="refute.run", arguments=["audit"]))
    # Still alive and answering.
    assert await h.command(client, "refute.runs", {}) == []


async def test_restart_shows_earlier_findings(tmp_path, profile):
    ws = h.make_workspace(tmp_path)
    first = await h.start(ws, profile)
    app = h.open_doc(first, "app.py")
    run_id = (await h.command(first, "refute.run", AUDIT_APP))["runId"]
    await h.wait_run_end(first, run_id)
    await h.wait_for(lambda: len(h.refute_diagnostics(first, app)) == 2, what="diagnostics before restart")
    await h.stop(first)

    second = await h.start(ws, profile)
    try:
        app = h.open_doc(second, "app.py")
        diags = await h.wait_for(lambda: len(h.refute_diagnostics(second, app)) == 2 and h.refute_diagnostics(second, app),
                                 what="earlier findings after restart")
        assert {d.data["runId"] for d in diags} == {run_id}
        assert second.progress_reports == {}  # nothing ran: they came from the store
    finally:
        await h.stop(second)


async def test_a_failing_run_is_loud_and_the_server_stays_up(client):
    app = h.open_doc(client, "app.py")
    run_id = (await h.command(client, "refute.run", {"workflow": "boom"}))["runId"]
    token = await h.wait_run_end(client, run_id)
    end = client.progress_reports[token][-1]
    assert end.message.startswith("failed: 1 calls") and "KeyError" in end.message, end.message
    await h.wait_for(lambda: any(m.type == types.MessageType.Error and run_id in m.message for m in client.messages),
                     what="an error message for the failed run")
    # Still fully working: another run streams its findings.
    run_id = (await h.command(client, "refute.run", AUDIT_APP))["runId"]
    await h.wait_run_end(client, run_id)
    await h.wait_for(lambda: len(h.refute_diagnostics(client, app)) == 2, what="diagnostics after the failure")


async def test_proposed_edits_of_earlier_runs_are_offered_after_restart(tmp_path, profile):
    ws = h.make_workspace(tmp_path)
    first = await h.start(ws, profile)
    run_id = (await h.command(first, "refute.run", {"workflow": "migrate"}))["runId"]
    await h.wait_run_end(first, run_id)
    await h.stop(first)
    second = await h.start(ws, profile)
    try:
        app = h.open_doc(second, "app.py")
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=app),
            range=types.Range(types.Position(0, 0), types.Position(0, 0)),
            context=types.CodeActionContext(diagnostics=[], only=["source"]))
        found: list = []

        async def poll() -> bool:
            found[:] = await second.text_document_code_action_async(params) or []
            return bool(found)

        for _ in range(200):  # the server loads them from the store just after it starts
            if await poll():
                break
            await asyncio.sleep(0.05)
        actions = found
        assert [list(a.command.arguments) for a in actions] == [[{"runId": run_id, "path": "app.py"}]]
    finally:
        await h.stop(second)


async def test_pause_then_resume_gets_a_fresh_progress(tmp_path, profile):
    ws = h.make_workspace(tmp_path, extra_files=20)
    client = await h.start(ws, profile, init=h.options(scriptedLatencyS=0.15, maxConcurrency=2))
    try:
        run_id = (await h.command(client, "refute.run", {"workflow": "audit"}))["runId"]
        await h.wait_for(lambda: any(u["runId"] == run_id and u["callsDone"] >= 1 for u in client.run_updates),
                         what="the first finished call")
        first = h.run_token(client, run_id)
        await h.command(client, "refute.pause", {"runId": run_id})
        await h.wait_for(lambda: "end" in h.progress_kinds(client, first), what="the paused run's progress end")
        assert client.progress_reports[first][-1].message.startswith("paused")
        assert [u for u in client.run_updates if u["runId"] == run_id][-1]["status"] == "paused"
        await h.command(client, "refute.resume", {"runId": run_id})
        second = await h.wait_for(lambda: next((t for t in client.progress_reports
                                                if str(t).startswith(f"refute-run-{run_id}-") and t != first), None),
                                  what="a fresh progress token for the resumed run")
        await h.wait_for(lambda: "end" in h.progress_kinds(client, second), timeout=60, what="the resumed run's end")
        assert client.progress_reports[second][0].kind == "begin"
        assert client.progress_reports[second][-1].message.startswith("completed"), client.progress_reports[second][-1].message
    finally:
        await h.stop(client)


async def test_resume_with_a_larger_budget_from_the_editor(tmp_path, profile):
    # Issue 12: a run whose budget is reached ends budget_reached; refute.resume takes
    # budgetTokens/budgetUsd like `refute resume RUN --budget-tokens N`.
    ws = h.make_workspace(tmp_path, extra_files=20)
    # A workflow with no capacity gate, so the budget alone stops it (the bundled audit's
    # finders stop early on purpose and end "completed": calls/capacity.py).
    (ws / ".refute" / "workflows" / "spend.py").write_text(
        "meta = {'name': 'spend', 'description': 'calls until the budget stops it', 'phases': [], 'args': {}}\n\n"
        "def main(args):\n    return len(parallel([lambda u=u: agent('look at this', unit=u) for u in units()]))\n")
    client = await h.start(ws, profile, init=h.options(maxConcurrency=2))
    try:
        run_id = (await h.command(client, "refute.run", {"workflow": "spend", "budgetTokens": 1500}))["runId"]
        await h.wait_for(lambda: any(u["runId"] == run_id and u["status"] == "budget_reached"
                                     for u in client.run_updates), timeout=60, what="budget_reached")
        # The run has ended (resumable): its progress ends too, saying why.
        first = h.run_token(client, run_id)
        await h.wait_for(lambda: "end" in h.progress_kinds(client, first), timeout=10,
                         what="the budget-reached run's progress end")
        assert client.progress_reports[first][-1].message.startswith("budget_reached")
        await h.command(client, "refute.resume", {"runId": run_id, "budgetTokens": 10_000_000})
        await h.wait_for(lambda: any(u["runId"] == run_id and u["status"] == "completed"
                                     for u in client.run_updates), timeout=60, what="the resumed run's completion")
        runs = await h.command(client, "refute.runs", {})
        info = next(r for r in runs if r["id"] == run_id)
        assert info["budget"]["tokens"] == 10_000_000 and info["status"] == "completed"
    finally:
        await h.stop(client)
