"""`refute.doctor` through the language server: the editor asks, gets the same checks as
`refute doctor` (here against the loopback chat-completions fake) and sees them as a message."""

import sys
from pathlib import Path

import pytest
from pygls.exceptions import JsonRpcException

import lsp_harness as h

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from tests.fakes.chat_completions_api import FakeChatCompletionsAPI, json_answer  # noqa: E402


async def test_doctor_checks_the_configured_provider_and_shows_them(workspace):
    with FakeChatCompletionsAPI(models=("qwen2.5-coder:7b",)) as fake:
        fake.enqueue(json_answer({"ok": True}))
        client = await h.start(workspace, "neovim", init=h.options(
            provider="openai", openaiBaseUrl=fake.base_url, openaiModel="qwen2.5-coder:7b"))
        try:
            plain = await h.command(client, "refute.doctor", {})
            assert plain["ok"] and plain["provider"] == "openai"
            statuses = {c["name"]: c["status"] for c in plain["checks"]}
            assert statuses["model known"] == "ok" and statuses["structured output"] == "skip"
            assert fake.chat_bodies() == []  # no call without consent

            called = await h.command(client, "refute.doctor", {"call": True})
            assert {c["name"]: c["status"] for c in called["checks"]}["structured output"] == "ok"
            assert len(fake.chat_bodies()) == 1
            assert any("model known" in m.message for m in client.messages)  # shown to the user

            with pytest.raises(JsonRpcException, match="call must be true or false"):
                await h.command(client, "refute.doctor", {"call": "yes"})
        finally:
            await h.stop(client)
