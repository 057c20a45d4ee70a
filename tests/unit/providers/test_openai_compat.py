"""The OpenAI-compatible provider through the real `openai` SDK against a loopback fake of
/v1/chat/completions (tests/fakes/chat_completions_api.py): answers, usage and cost, the
tool loop under the workspace path rule, and every fault mapped to the typed errors the
scheduler handles (429 with retry-after, 5xx, timeouts, invalid JSON, truncation, refusal)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from refute.orchestration.model import CallRequest
from refute.orchestration.providers import make_provider
from refute.orchestration.providers.base import (CallContext, CallTimeout, InvalidOutput, NotConfigured, Overloaded,
    ProviderError, RateLimited, Refused, SpendLimitReached, Truncated)
from refute.orchestration.providers.local import bounded_schema
from refute.orchestration.providers.openai_compat import OpenAICompatProvider, duration_seconds, rate_limit_state
from refute.orchestration.providers.structured import validate
from refute.orchestration.settings import EngineSettings
from provider_helpers import call_under_budget
from tests.fakes.chat_completions_api import (TEST_OPENAI_KEY, FakeChatCompletionsAPI, Reply, completion, error,
    json_answer, rate_limited, tool_call)

SCHEMA = {"type": "object", "properties": {"findings": {"type": "array", "items": {
    "type": "object", "properties": {"title": {"type": "string"}, "quote": {"type": "string"}},
    "required": ["title", "quote"]}}}, "required": ["findings"]}
MODEL = "qwen2.5-coder:7b"


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake():
    with FakeChatCompletionsAPI() as api:
        yield api


def provider_for(fake: FakeChatCompletionsAPI, workspace: Path, **changes) -> OpenAICompatProvider:
    settings = EngineSettings(provider="openai", openai_base_url=fake.base_url, openai_model=MODEL,
                              call_timeout_s=5.0, **changes)
    provider = make_provider(settings, workspace)
    assert isinstance(provider, OpenAICompatProvider)
    return provider


def request(**kw) -> CallRequest:
    base = dict(prompt="Find bugs in src/app.py", model=MODEL, system="You audit code.", schema=SCHEMA,
                max_tokens=200, label="find app.py")
    base.update(kw)
    return CallRequest(**base)


def test_structured_answer_validates_with_usage_and_zero_cost_when_unpriced(fake, workspace, ctx, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_OPENAI_KEY)
    answer = {"findings": [{"title": "eval of input", "quote": "eval(request.args['q'])"}]}
    fake.enqueue(json_answer(answer, usage={"prompt_tokens": 120, "completion_tokens": 30,
                                            "prompt_tokens_details": {"cached_tokens": 100}}))
    result = provider_for(fake, workspace).call(request(context="shared prefix"), ctx)
    assert result.data == answer and result.provider == "openai" and result.model == MODEL
    assert (result.usage.input_tokens, result.usage.cache_read_tokens, result.usage.output_tokens) == (20, 100, 30)
    assert result.cost_usd == 0.0
    sent = fake.requests[-1]
    assert sent.headers["authorization"] == f"Bearer {TEST_OPENAI_KEY}"
    assert TEST_OPENAI_KEY not in json.dumps(sent.body)
    assert sent.body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert sent.body["messages"][0] == {"role": "system", "content": "You audit code."}
    assert sent.body["messages"][1]["content"].startswith("shared prefix\n\n")  # prefix first: server-side caching


def test_priced_model_costs_what_the_settings_say(fake, workspace, ctx):
    fake.enqueue(json_answer({"findings": []}, usage={"prompt_tokens": 1_000_000, "completion_tokens": 500_000}))
    provider = provider_for(fake, workspace, openai_price_input=0.5, openai_price_output=2.0)
    assert provider.call(request(), ctx).cost_usd == pytest.approx(0.5 + 1.0)
    tokens, usd = provider.worst_case(request())
    assert tokens > 200 and usd > 0


def test_missing_usage_is_charged_at_the_estimate_not_zero(fake, workspace, ctx):
    fake.enqueue(json_answer({"findings": []}, usage=None))
    provider = provider_for(fake, workspace)
    result = provider.call(request(), ctx)
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert provider.unreported_usage_calls == 1


def test_429_with_retry_after_is_rate_limited_and_tells_the_scheduler(fake, workspace, ctx):
    fake.enqueue(rate_limited(retry_after=2))
    with pytest.raises(RateLimited) as caught:
        provider_for(fake, workspace).call(request(), ctx)
    assert caught.value.retryable and caught.value.retry_after == 2.0
    assert ctx.signals == [2.0]


def test_429_without_retry_after_waits_for_the_ratelimit_reset_header(fake, workspace, ctx):
    fake.enqueue(error(429, "slow down", headers={"x-ratelimit-remaining-requests": "0",
                                                   "x-ratelimit-reset-requests": "1m30s"}))
    with pytest.raises(RateLimited) as caught:
        provider_for(fake, workspace).call(request(), ctx)
    assert caught.value.retry_after == 90.0


def test_quota_429_is_a_spend_limit_never_retried(fake, workspace, ctx):
    fake.enqueue(error(429, "You exceeded your current quota", code="insufficient_quota"))
    with pytest.raises(SpendLimitReached) as caught:
        provider_for(fake, workspace).call(request(), ctx)
    assert not caught.value.retryable


@pytest.mark.parametrize("status,kind", [(500, Overloaded), (502, Overloaded), (503, Overloaded)])
def test_5xx_is_retryable(fake, workspace, ctx, status, kind):
    fake.enqueue(error(status, "upstream broke"))
    with pytest.raises(kind) as caught:
        provider_for(fake, workspace).call(request(), ctx)
    assert caught.value.retryable


def test_503_lowers_concurrency_but_500_does_not(fake, workspace, ctx):
    fake.enqueue(error(500, "bug"), error(503, "loading model"))
    provider = provider_for(fake, workspace)
    for _ in range(2):
        with pytest.raises(ProviderError):
            provider.call(request(), ctx)
    assert len(ctx.signals) == 1


def test_timeout_is_a_retryable_call_timeout(fake, workspace):
    fake.enqueue(Reply(body=completion("late").body, delay_s=1.5))
    short = CallContext(cancelled=threading.Event(), timeout_s=0.3, workspace=str(workspace))
    with pytest.raises(CallTimeout) as caught:
        provider_for(fake, workspace).call(request(), short)
    assert caught.value.retryable


def test_invalid_json_gets_corrective_retries_then_fails_loudly_by_name(fake, workspace, ctx):
    fake.enqueue(completion("Here are the findings: none, I think."), completion("{not json"),
                 json_answer({"findings": "none"}))
    with pytest.raises(InvalidOutput, match="structured output invalid after 3 attempts"):
        provider_for(fake, workspace).call(request(), ctx)
    bodies = fake.chat_bodies()
    assert len(bodies) == 3
    assert "does not satisfy the required JSON schema" in bodies[1]["messages"][-1]["content"]


def test_invalid_then_valid_answer_succeeds(fake, workspace, ctx):
    fake.enqueue(completion("```json\n{\"findings\": 3}\n```"), json_answer({"findings": []}))
    result = provider_for(fake, workspace).call(request(), ctx)
    assert result.data == {"findings": []} and result.usage.total_tokens > 0


def test_a_body_that_is_not_json_is_a_loud_provider_error(fake, workspace, ctx):
    fake.enqueue(Reply(body="<html>gateway says hi</html>"))
    with pytest.raises(ProviderError, match="not"):
        provider_for(fake, workspace).call(request(), ctx)


def test_truncation_is_never_parsed_as_empty(fake, workspace, ctx):
    fake.enqueue(completion('{"findings": [{"title": "unterminated', finish_reason="length"))
    with pytest.raises(Truncated, match="max_tokens=200") as caught:
        provider_for(fake, workspace).call(request(), ctx)
    assert caught.value.usage.total_tokens > 0  # tokens were spent: the budget counts them


@pytest.mark.parametrize("reply", [completion(None, refusal="I can't help with that."),
                                   completion("", finish_reason="content_filter")])
def test_refusal(fake, workspace, ctx, reply):
    fake.enqueue(reply)
    with pytest.raises(Refused):
        provider_for(fake, workspace).call(request(), ctx)


def test_tools_run_under_the_workspace_path_rule(fake, workspace, ctx):
    fake.enqueue(completion(None, finish_reason="tool_calls", tool_calls=[
                     tool_call("read_file", {"path": "src/app.py"}, "c1"),
                     tool_call("read_file", {"path": "../../etc/passwd"}, "c2")]),
                 json_answer({"findings": []}))
    result = provider_for(fake, workspace).call(request(tools=("read_file",)), ctx)
    assert result.data == {"findings": []}
    first, second = fake.chat_bodies()
    assert first["tools"][0]["type"] == "function" and first["tools"][0]["function"]["name"] == "read_file"
    tool_messages = [m for m in second["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["c1", "c2"]
    assert "eval(request.args" in tool_messages[0]["content"]
    assert tool_messages[1]["content"].startswith("ERROR:") and "passwd" not in tool_messages[1]["content"][30:]


def test_tool_turns_are_reserved_turn_by_turn_within_the_budget(fake, workspace, monkeypatch):
    """As the Anthropic provider: a call reserves its first request only, and each tool
    turn grows the reservation when it happens, so a budget that could never pay the
    whole worst case up front pays three tool turns one at a time."""
    monkeypatch.setenv("OPENAI_API_KEY", TEST_OPENAI_KEY)
    fake.enqueue(*[completion(None, finish_reason="tool_calls",
                              tool_calls=[tool_call("read_file", {"path": "src/app.py"}, f"c{i}")])
                   for i in range(3)], json_answer({"findings": []}))
    provider = provider_for(fake, workspace)
    call = request(tools=("read_file",), max_tokens=300)
    whole, _ = provider.full_worst_case(call)
    first, _ = provider.worst_case(call)
    assert first < whole // 4  # the first request only
    try:
        result, ledger = call_under_budget(provider, workspace, call, whole // 2)
    finally:
        provider.close()
    assert result.data == {"findings": []} and len(fake.chat_bodies()) == 4
    assert ledger.spent_tokens == result.usage.total_tokens <= whole // 2 and ledger.reserved_tokens == 0
    assert ledger.overruns == 0


def test_exhausted_ratelimit_headers_on_success_slow_the_scheduler_down(fake, workspace, ctx):
    fake.enqueue(json_answer({"findings": []}, headers={
        "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "2s", "x-ratelimit-remaining-tokens": "5000"}))
    provider = provider_for(fake, workspace)
    provider.call(request(), ctx)
    assert ctx.signals == [2.0]
    assert provider.last_rate_limits["limit_requests"] == 60


def test_secrets_in_the_prompt_never_leave_the_machine(fake, workspace, ctx):
    fake.enqueue(json_answer({"findings": []}))
    leaked = "AKIAIOSFODNN7EXAMPLE"
    provider_for(fake, workspace).call(request(prompt=f"aws_key = '{leaked}' in config.py"), ctx)
    assert leaked not in json.dumps(fake.requests[-1].body)


def test_configuration_errors_name_what_to_set(workspace, fake, monkeypatch):
    with pytest.raises(NotConfigured, match="OPENAI_API_KEY"):
        make_provider(EngineSettings(provider="openai", openai_model=MODEL), workspace)
    with pytest.raises(NotConfigured, match="openai_model"):
        make_provider(EngineSettings(provider="openai", openai_base_url=fake.base_url), workspace)


@pytest.mark.parametrize("status,kind,words", [(401, NotConfigured, "OPENAI_API_KEY"),
                                               (404, ProviderError, "openai_model"),
                                               (400, ProviderError, "structured output")])
def test_client_errors_say_what_to_fix(fake, workspace, ctx, status, kind, words):
    message = "response_format json_schema is not supported" if status == 400 else "nope"
    fake.enqueue(error(status, message))
    with pytest.raises(kind, match=words):
        provider_for(fake, workspace).call(request(), ctx)


def test_unreachable_server_is_a_named_connection_failure(workspace, ctx):
    settings = EngineSettings(provider="openai", openai_base_url="http://127.0.0.1:9/v1", openai_model=MODEL)
    with pytest.raises(Overloaded, match="cannot reach"):
        make_provider(settings, workspace).call(request(), ctx)


def test_rate_limit_header_parsing():
    assert duration_seconds("6m0s") == 360 and duration_seconds("120ms") == pytest.approx(0.12)
    assert duration_seconds("1h2m3.5s") == pytest.approx(3723.5) and duration_seconds("soon") is None
    state = rate_limit_state({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "250ms"})
    assert state == {"remaining_tokens": 0, "reset_tokens_s": 0.25}


def test_bounded_schema_only_narrows_what_is_valid():
    bounded = bounded_schema(SCHEMA, max_items=2, max_chars=10)
    long_answer = {"findings": [{"title": "t", "quote": "q"}] * 3}
    assert validate(long_answer, SCHEMA) is None and validate(long_answer, bounded) is not None
    short = {"findings": [{"title": "t" * 10, "quote": "q"}]}
    assert validate(short, bounded) is None and validate(short, SCHEMA) is None
    assert bounded_schema({"type": "array", "minItems": 5}, max_items=2)["maxItems"] == 5  # never below a minimum
    assert "maxLength" not in bounded_schema({"type": "string", "enum": ["a", "b"]})


def test_local_demo_results_are_labelled_wherever_they_show(tmp_path):
    from refute.orchestration.verification.findings import FindingsStore
    from refute.orchestration.model import Budget, RunInfo, Scope
    from refute.orchestration.providers.base import DEMO_LABELS
    from refute.orchestration.reporting.report import render
    from refute.server.lsp.evidence import provider_label as editor_label

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "a.py").write_text("x = 1 / 0\n")
    store = FindingsStore(ws, tmp_path / "state")
    store.ingest({"path": "a.py", "quote": "x = 1 / 0", "title": "division by zero", "explanation": "always",
                  "severity": "error", "category": "bug", "verdicts": [], "confidence": 0.5},
                 run_id="r1", workflow="audit", provider="local")
    run = RunInfo(id="r1", workflow="audit", script_hash="h", args={}, scope=Scope(), status="completed",
                  budget=Budget(), provider="local")
    label = DEMO_LABELS["local"]
    assert label in render(store.list(), run, "md")
    sarif = json.loads(render(store.list(), run, "sarif"))["runs"][0]
    assert sarif["tool"]["driver"]["name"] == "refute (small local demo model)"
    assert sarif["properties"]["notes"] == [label] and label in sarif["results"][0]["message"]["text"]
    assert editor_label("local") == label
    store.close()
