"""One rule for errors in the CLI and the language server: a refusal (RefusedError) is
the engine's words (exit 2; InvalidParams or RequestFailed), anything else is a bug
reported as an internal error with its traceback (exit 1; InternalError), never as a
polite refusal."""

from __future__ import annotations

import logging

import pytest
from pygls.exceptions import JsonRpcInternalError, JsonRpcInvalidParams

from refute.orchestration.engine import Engine
from refute.orchestration.errors import InvalidInput, NotAllowed, NotFound, RefusedError
from refute.orchestration.governance.policy import PolicyRefused
from refute.orchestration.store.runs import RunLocked, RunNotFound
from refute.orchestration.verification.findings import FindingNotFound
from refute.server.cli import main as cli
from refute.server.lsp.errors import RequestFailed, to_lsp_error


def test_the_engine_refusals_share_one_base_and_keep_their_builtin_one():
    assert issubclass(RunNotFound, NotFound) and issubclass(RunNotFound, LookupError)
    assert issubclass(FindingNotFound, NotFound) and issubclass(FindingNotFound, KeyError)
    assert issubclass(RunLocked, NotAllowed) and issubclass(PolicyRefused, NotAllowed)
    assert issubclass(InvalidInput, ValueError) and all(issubclass(c, RefusedError) for c in (InvalidInput, NotAllowed, NotFound))


def test_lsp_maps_invalid_input_not_found_and_bugs_differently(caplog):
    logged: list[str] = []
    invalid = to_lsp_error("plan", InvalidInput("scope: bad"), logged.append)
    assert isinstance(invalid, JsonRpcInvalidParams) and invalid.message == "refute: plan: scope: bad"
    missing = to_lsp_error("report", RunNotFound("no run 'x'"), logged.append)
    assert isinstance(missing, RequestFailed) and missing.code == -32803 and "no run 'x'" in missing.message
    assert logged == []  # a refusal is not a bug: nothing to log
    try:
        {}["fingerprint"]
    except KeyError as exc:
        bug = exc
    with caplog.at_level(logging.ERROR, logger="refute.server.lsp.errors"):
        internal = to_lsp_error("runs", bug, logged.append)
    assert isinstance(internal, JsonRpcInternalError)
    assert internal.message == "refute: runs: internal error: KeyError: fingerprint (see the refute log)"
    assert "Traceback" in logged[0] and "KeyError" in logged[0]  # window/logMessage
    assert "Traceback" in caplog.text  # the server log


@pytest.fixture
def workspace(tmp_path):
    (tmp_path / "app.py").write_text("print('hi')\n")
    return tmp_path


def test_cli_an_unknown_run_is_a_refusal_exit_2(workspace, capsys):
    assert cli(["report", "no-such-run", "--workspace", str(workspace)]) == 2
    err = capsys.readouterr().err
    assert "refute report: no run 'no-such-run'" in err and "Traceback" not in err


def test_cli_a_bug_is_exit_1_with_its_traceback(workspace, capsys, monkeypatch):
    def broken(self, run_id, fmt="md"):
        return {}["missing"]

    monkeypatch.setattr(Engine, "report", broken)
    assert cli(["report", "no-such-run", "--workspace", str(workspace)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "in broken" in err
    assert err.rstrip().endswith("refute report: internal error: KeyError: 'missing' (a bug in refute; the traceback is above)")
