"""Each admin-policy rule through the language server, as an editor meets it: the
command answers with an error that names the rule, and nothing runs. One server per
test; the policy file (named by REFUTE_POLICY before the server starts) is rewritten
between commands, since the engine reads it at every check."""

from __future__ import annotations

import json
import textwrap

import jsonschema
import pytest
from pygls.exceptions import JsonRpcException

import lsp_harness as h
from refute.orchestration.governance import record
from refute.orchestration.governance.ledger import SpendLedger, default_dir

AUDIT_APP = {"workflow": "audit", "scope": {"paths": ["app.py", "lib"]}}


@pytest.fixture
def policy_file(tmp_path, monkeypatch):
    path = tmp_path / "policy.toml"
    path.write_text("", encoding="utf-8")
    monkeypatch.setenv("REFUTE_POLICY", str(path))
    return path


def set_policy(path, text: str) -> None:
    path.write_text(textwrap.dedent(text), encoding="utf-8")


async def refused(client, name: str, arg: dict, rule: str) -> str:
    with pytest.raises(JsonRpcException) as info:
        await h.command(client, name, arg)
    message = str(info.value)
    assert f"rule {rule}:" in message, message
    return message


async def test_every_policy_rule_refuses_through_the_language_server(tmp_path, policy_file):
    ws = h.make_workspace(tmp_path)
    client = await h.start(ws, "neovim")
    try:
        set_policy(policy_file, "[workflows]\nenabled = false\n")
        await refused(client, "refute.run", AUDIT_APP, "workflows.enabled")
        await refused(client, "refute.plan", AUDIT_APP, "workflows.enabled")
        set_policy(policy_file, "[workflows]\nallowed = ['ask']\n")
        message = await refused(client, "refute.run", AUDIT_APP, "workflows.allowed")
        assert "'audit' is not allowed (allowed: ask)" in message and str(policy_file) in message
        set_policy(policy_file, "[providers]\nallowed = ['anthropic']\n")
        await refused(client, "refute.run", AUDIT_APP, "providers.allowed")
        set_policy(policy_file, "[providers]\nmodels = ['claude-haiku-4-5']\n")
        await refused(client, "refute.run", AUDIT_APP, "providers.models")
        set_policy(policy_file, "[budget]\nmax_usd_per_run = 1.0\n")
        await refused(client, "refute.run", {**AUDIT_APP, "budgetUsd": 2.0}, "budget.max_usd_per_run")
        set_policy(policy_file, "[budget]\nmax_usd_per_user_per_day = 1.0\n")
        ledger = SpendLedger(default_dir())
        ledger.settle("spent-elsewhere", tmp_path / "other", "audit", 1.0, 100)
        await refused(client, "refute.run", AUDIT_APP, "budget.max_usd_per_user_per_day")
        set_policy(policy_file, "[workflows\n")
        with pytest.raises(JsonRpcException, match="not valid TOML"):
            await h.command(client, "refute.run", AUDIT_APP)
        assert client.progress_reports == {}, "no run started"
        assert await h.command(client, "refute.runs", {}) == []

        # Edits: a migrate run proposes one; the policy refuses applying it.
        set_policy(policy_file, "[edits]\nallow_apply = true\n")
        result = await h.command(client, "refute.run", {"workflow": "migrate", "scope": {"paths": ["app.py"]}})
        await h.wait_run_end(client, result["runId"])
        set_policy(policy_file, "[edits]\nallow_apply = false\n")
        await refused(client, "refute.applyEdits", {"runId": result["runId"]}, "edits.allow_apply")
        assert client.edit_requests == [] and "os.system(cmd)" in (ws / "app.py").read_text()

        shown = await h.command(client, "refute.policy", {})
        assert shown["source"] == str(policy_file) and shown["edits_allow_apply"] is False
        set_policy(policy_file, "[budget]\nmax_usd_per_user_per_day = 1.0\n")
        usage = await h.command(client, "refute.usage", {})
        assert usage["daily_cap_usd"] == 1.0 and usage["left_today_usd"] == 0
    finally:
        await h.stop(client)


async def test_policy_thresholds_bind_the_editor_gate_and_the_audit_record_exports(tmp_path, policy_file):
    """The user's settings say 1,000 calls; the policy says 1: the editor asks."""
    set_policy(policy_file, "[approval]\nthreshold_calls = 1\n")
    ws = h.make_workspace(tmp_path)
    client = await h.start(ws, "visual_studio_code", approval="Cancel")
    try:
        result = await h.command(client, "refute.run", AUDIT_APP)
        assert result["declined"] is True
        assert "agent calls (threshold 1)" in client.message_requests[-1].message
        client.approval_answer = "Run"
        result = await h.command(client, "refute.run", AUDIT_APP)
        await h.wait_run_end(client, result["runId"])
        exported = await h.command(client, "refute.exportAudit", {"runId": result["runId"]})
        doc = json.loads(exported["content"])
        jsonschema.validate(doc, record.schema())
        assert doc["starts"][0]["started_by"].startswith("lsp:")
        assert doc["starts"][0]["policy"]["source"] == str(policy_file)
        assert (ws / exported["path"]).is_file()
    finally:
        await h.stop(client)
