"""The editor's "Continue audit": refute.run {workflow, continueRun} covers what a run left."""

from __future__ import annotations

import lsp_harness as h


async def test_continue_audit_covers_what_a_run_left(tmp_path, profile):
    ws = h.make_workspace(tmp_path, extra_files=12)
    client = await h.start(ws, profile, init=h.options(maxCalls=8))
    try:
        first = (await h.command(client, "refute.run", {"workflow": "audit"}))["runId"]
        await h.wait_run_end(client, first, timeout=60)
        by_id = {r["id"]: r for r in await h.command(client, "refute.runs", {})}
        assert by_id[first]["status"] == "completed" and not by_id[first]["result"]["complete"]
        second = (await h.command(client, "refute.run", {"workflow": "audit", "continueRun": first}))["runId"]
        await h.wait_run_end(client, second, timeout=60)
        by_id = {r["id"]: r for r in await h.command(client, "refute.runs", {})}
        assert by_id[second]["args"]["continues"] == first and by_id[second]["args"]["skip_covered"] is True
        assert by_id[second]["status"] == "completed" and by_id[second]["result"]["skipped_covered"] >= 1
        # An editor may name just the run: the continuation is of that run's workflow.
        third = (await h.command(client, "refute.run", {"continueRun": second}))["runId"]
        await h.wait_run_end(client, third, timeout=60)
        by_id = {r["id"]: r for r in await h.command(client, "refute.runs", {})}
        assert by_id[third]["workflow"] == "audit" and by_id[third]["args"]["continues"] == second
    finally:
        await h.stop(client)
