"""What a client sees when the engine says no, and when refute has a bug: a refusal is an
LSP error with the engine's words (InvalidParams for bad input, RequestFailed for not
found / not allowed); a bug is an InternalError saying so, its traceback logged to the
client and the server log, never dressed up as a refusal (server/lsp/errors.py)."""

import os

import pytest
from pygls.exceptions import JsonRpcException

import lsp_harness as h

REQUEST_FAILED, INVALID_PARAMS, INTERNAL_ERROR = -32803, -32602, -32603


async def _error(client, name: str, arg: dict) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as info:
        await h.command(client, name, arg)
    return info.value


async def test_an_unknown_run_is_a_refusal_naming_it(client):
    error = await _error(client, "refute.report", {"runId": "no-such-run"})
    assert error.code == REQUEST_FAILED, error
    assert "refute: report: no run 'no-such-run'" in error.message


async def test_arguments_a_workflow_does_not_take_are_invalid_params(client):
    error = await _error(client, "refute.plan", {"workflow": "audit", "args": {"no_such_arg": 1}})
    assert error.code == INVALID_PARAMS and "no_such_arg" in error.message, error


async def test_a_bug_in_the_engine_is_an_internal_error_not_a_refusal(tmp_path, monkeypatch):
    # The language server process (not its run workers, which start with -I) loads this:
    # Engine.runs fails the way a real bug would, with a KeyError.
    plugin = tmp_path / "plugin"
    plugin.mkdir()
    (plugin / "sitecustomize.py").write_text(
        "from refute.orchestration.engine import Engine\n\n"
        "def broken_runs(self):\n"
        "    return {}['created_at']\n\n"
        "Engine.runs = broken_runs\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(plugin), os.environ.get("PYTHONPATH")])))
    client = await h.start(h.make_workspace(tmp_path), "neovim")
    try:
        error = await _error(client, "refute.runs", {})
        assert error.code == INTERNAL_ERROR, error
        assert error.message == "refute: runs: internal error: KeyError: created_at (see the refute log)"
        logged = "\n".join(m.message for m in client.log_messages)
        assert "Traceback" in logged and "broken_runs" in logged
        assert await h.command(client, "refute.workflows", {})  # the server is still up
    finally:
        await h.stop(client)
