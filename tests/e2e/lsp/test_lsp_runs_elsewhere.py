"""Issue 16: a run started from the CLI (another process) shows live progress and its
findings in an open editor, from the run store's audit log."""

import asyncio
import sys

from lsprotocol import types

import lsp_harness as h


async def test_a_cli_started_run_reaches_the_open_editor(tmp_path):
    ws = h.make_workspace(tmp_path)
    client = await h.start(ws, "neovim")
    try:
        app = h.open_doc(client, "app.py")
        assert await h.command(client, "refute.runs", {}) == []  # the engine (and the log tail) is up
        cli = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "refute.server.cli", "run", "audit", "app.py", "lib",
            "--workspace", str(ws), "--provider", "scripted", "--scripted-fixture", ".refute/answers.py:answer",
            "--scripted-latency", "0.3", "--json",
            cwd=str(ws), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        # Live: a progress begins and reports while the CLI is still running.
        token = await h.wait_for(lambda: next((t for t in client.progress_reports
                                               if str(t).startswith("refute-run-")), None),
                                 timeout=30, what="a progress for the CLI's run")
        run_id = str(token)[len("refute-run-"):].rsplit("-", 1)[0]
        await h.wait_for(lambda: any(isinstance(r, types.WorkDoneProgressReport) and "calls" in (r.message or "")
                                     for r in client.progress_reports[token]), timeout=30, what="a progress report")
        assert cli.returncode is None, "the CLI run ended before the editor saw it live"
        out, err = await asyncio.wait_for(cli.communicate(), timeout=60)
        assert cli.returncode == 0, err.decode()
        await h.wait_for(lambda: "end" in h.progress_kinds(client, token), timeout=10, what="progress end")
        reports = client.progress_reports[token]
        assert reports[0].title == "refute: audit"
        assert reports[-1].message.startswith("completed: "), reports[-1].message
        updates = [u for u in client.run_updates if u["runId"] == run_id]
        assert updates[-1]["status"] == "completed" and updates[-1]["callsDone"] >= 4
        # Its findings arrived as they were confirmed, in the open buffer and the closed file.
        diags = await h.wait_for(lambda: len(h.refute_diagnostics(client, app)) == 2 and h.refute_diagnostics(client, app),
                                 what="the CLI run's findings in app.py")
        assert {d.data["runId"] for d in diags} == {run_id}
        await h.wait_for(lambda: h.refute_diagnostics(client, h.uri(ws, "lib/util.py")),
                         what="the CLI run's finding in lib/util.py (never opened)")
    finally:
        await h.stop(client)
