"""Issue 12, on the real SDK against the loopback API: a reply without a usage block is
estimated and flagged (never 0 tokens); the files an agent read through its tools are
recorded with the answer, so the journal replays it only while they are unchanged."""

from __future__ import annotations

import pytest

from refute.orchestration.store.journal import Journal, file_hash
from refute.orchestration.model import Budget, CallRequest
from refute.orchestration.providers.anthropic import AnthropicProvider
from refute.orchestration.calls.budget import BudgetLedger
from refute.orchestration.calls.scheduler import Scheduler
from provider_helpers import call_under_budget
from tests.fakes.messages_api import no_usage_reply, text_reply, tool_use_reply

MODEL = "claude-haiku-4-5"


def test_missing_usage_is_estimated_flagged_and_charged(fake_messages_api, provider, workspace):
    # Before: recorded as 0 tokens, so a 2,248-token budget let 4,497 through.
    fake_messages_api.enqueue(no_usage_reply("a long answer " * 200))
    ledger = BudgetLedger(Budget(tokens=100_000))
    events: list = []
    scheduler = Scheduler(provider=provider, journal=None, ledger=ledger, run_id="r", workspace=str(workspace),
                          emit=lambda t, **f: events.append({"type": t, **f}))
    try:
        result = scheduler.call(CallRequest(prompt="explain src/app.py", model=MODEL, max_tokens=2000))
    finally:
        scheduler.close()
    assert result.estimated_usage and result.usage.output_tokens >= 600 and result.usage.input_tokens > 0
    assert ledger.spent_tokens == result.usage.total_tokens
    finished = [e for e in events if e["type"] == "call_finished"][0]
    assert finished["estimated_usage"] is True and finished["cost_usd"] > 0


def test_files_read_by_tools_are_recorded_and_guard_the_replay(fake_messages_api, provider, ctx, workspace,
                                                               tmp_path):
    fake_messages_api.enqueue(tool_use_reply(("read_file", {"path": "src/app.py"})), text_reply("it calls eval"))
    request = CallRequest(prompt="does app.py eval input?", model=MODEL, tools=("read_file",))
    result = provider.call(request, ctx)
    assert result.reads == {"src/app.py": file_hash(workspace / "src" / "app.py")}

    journal = Journal(tmp_path / "state")
    try:
        journal.record(request, result, run_id="r1")
        assert journal.get(request.key(), workspace=workspace).text == "it calls eval"
        (workspace / "src" / "app.py").write_text("def handler(request):\n    return 'safe'\n")
        assert journal.get(request.key(), workspace=workspace) is None  # the stale answer is not replayed
    finally:
        journal.close()


def test_tool_turns_are_reserved_turn_by_turn_within_the_budget(fake_messages_api, provider, workspace):
    # Three tool turns then an answer, under a budget that pays for them one at a time
    # but could never pay the whole worst case up front.
    fake_messages_api.enqueue(*[tool_use_reply(("read_file", {"path": "src/app.py"})) for _ in range(3)],
                              text_reply("done"))
    request = CallRequest(prompt="check app.py", model=MODEL, tools=("read_file",), max_tokens=300)
    whole, _ = provider.full_worst_case(request)
    result, ledger = call_under_budget(provider, workspace, request, whole // 2)
    assert result.text == "done" and len(fake_messages_api.message_bodies()) >= 2
    assert ledger.spent_tokens == result.usage.total_tokens <= whole // 2 and ledger.reserved_tokens == 0
