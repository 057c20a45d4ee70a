"""One logical call through the real SDK against the loopback API: what is sent (cached
prefix, schema, redacted text, credentials only in the auth header) and how answers are
handled (validation with corrective retries, truncation, refusal, usage and cost)."""

from __future__ import annotations

import json

import pytest

from refute.orchestration.calls import pricing
from refute.orchestration.model import CallRequest, Usage
from refute.orchestration.providers.anthropic import OUTPUT_RETRIES, AnthropicProvider
from refute.orchestration.providers.base import InvalidOutput, ProviderError, Refused, Truncated
from tests.fakes.messages_api import (
    TEST_API_KEY,
    invalid_json_reply,
    json_reply,
    refusal_reply,
    text_reply,
    truncated_reply,
)

MODEL = "claude-haiku-4-5"
SCHEMA = {
    "type": "object",
    "properties": {"findings": {"type": "array", "items": {
        "type": "object",
        "properties": {"title": {"type": "string", "minLength": 3}, "line": {"type": "integer"}},
        "required": ["title", "line"]}}},
    "required": ["findings"],
}


def test_structured_output_is_requested_validated_and_costed(fake_messages_api, provider, ctx):
    answer = {"findings": [{"title": "eval of user input", "line": 2}]}
    fake_messages_api.enqueue(json_reply(answer))
    result = provider.call(CallRequest(prompt="audit src/app.py", model=MODEL, schema=SCHEMA), ctx)

    assert result.data == answer and result.provider == "anthropic" and result.model == MODEL
    sent = fake_messages_api.message_bodies()[0]
    fmt = sent["output_config"]["format"]
    assert fmt["type"] == "json_schema"
    # The constrained-decoding subset: closed objects, unsupported bounds moved to descriptions.
    assert fmt["schema"]["additionalProperties"] is False
    assert fmt["schema"]["properties"]["findings"]["items"]["required"] == ["title", "line"]
    assert result.usage.input_tokens > 0 and result.usage.output_tokens > 0
    assert result.cost_usd == pytest.approx(pricing.cost(MODEL, result.usage))
    assert result.latency_s > 0


def test_invalid_output_is_retried_with_the_problem_then_accepted(fake_messages_api, provider, ctx):
    fake_messages_api.enqueue(invalid_json_reply("no findings, I think"),
                              json_reply({"findings": [{"title": "xss", "line": "two"}]}),
                              json_reply({"findings": []}))
    result = provider.call(CallRequest(prompt="audit", model=MODEL, schema=SCHEMA), ctx)

    assert result.data == {"findings": []}
    bodies = fake_messages_api.message_bodies()
    assert len(bodies) == 3
    second_feedback = bodies[1]["messages"][-1]["content"][0]["text"]
    assert "not valid JSON" in second_feedback
    third_feedback = bodies[2]["messages"][-1]["content"][0]["text"]
    assert "'two' is not of type 'integer'" in third_feedback
    assert bodies[2]["messages"][-2] == {"role": "assistant", "content": [
        {"type": "text", "text": json.dumps({"findings": [{"title": "xss", "line": "two"}]})}]}
    # Usage and cost cover all three attempts.
    assert result.usage.output_tokens >= 3


def test_output_still_invalid_after_two_retries_fails_loudly(fake_messages_api, provider, ctx):
    fake_messages_api.enqueue(*[invalid_json_reply(f"attempt {i}") for i in range(OUTPUT_RETRIES + 1)])
    with pytest.raises(InvalidOutput) as info:
        provider.call(CallRequest(prompt="audit", model=MODEL, schema=SCHEMA), ctx)
    assert len(fake_messages_api.message_bodies()) == OUTPUT_RETRIES + 1
    assert "after 3 attempts" in str(info.value) and "attempt 2" in str(info.value)
    assert isinstance(info.value.usage, Usage) and info.value.usage.total_tokens > 0  # tokens were spent
    assert not info.value.retryable


def test_truncation_is_an_error_never_an_empty_result(fake_messages_api, provider, ctx):
    fake_messages_api.enqueue(truncated_reply('{"findings": [{"title": "cut'))
    with pytest.raises(Truncated) as info:
        provider.call(CallRequest(prompt="audit", model=MODEL, schema=SCHEMA, max_tokens=50), ctx)
    assert "max_tokens=50" in str(info.value)
    assert len(fake_messages_api.message_bodies()) == 1  # not retried as "invalid output"


def test_refusal_is_surfaced(fake_messages_api, provider, ctx):
    fake_messages_api.enqueue(refusal_reply("policy category: cyber"))
    with pytest.raises(Refused) as info:
        provider.call(CallRequest(prompt="write malware", model=MODEL), ctx)
    assert "policy category: cyber" in str(info.value)


def test_plain_text_answer_without_schema(fake_messages_api, provider, ctx):
    fake_messages_api.enqueue(text_reply("The parser looks fine."))
    result = provider.call(CallRequest(prompt="summarise", model=MODEL), ctx)
    assert result.text == "The parser looks fine." and result.data is None
    assert "output_config" not in fake_messages_api.message_bodies()[0]


def test_shared_prefix_is_cached_and_the_unit_prompt_follows(fake_messages_api, provider, ctx):
    fake_messages_api.enqueue(text_reply("a"), text_reply("b"))
    # Above claude-haiku-4-5's minimum cacheable prefix (4,096 tokens; calls/cache_minimums.json).
    common = dict(model=MODEL, system="You are a careful auditor.", context="Project notes: " + "word " * 4000)
    first = provider.call(CallRequest(prompt="unit 1", **common), ctx)
    second = provider.call(CallRequest(prompt="unit 2", **common), ctx)

    body = fake_messages_api.message_bodies()[0]
    assert body["system"] == [{"type": "text", "text": "You are a careful auditor."}]
    content = body["messages"][0]["content"]
    assert content[0]["text"].startswith("Project notes:") and content[0]["cache_control"] == {"type": "ephemeral"}
    assert content[1] == {"type": "text", "text": "unit 1"}  # after the breakpoint: not cached
    assert first.usage.cache_write_tokens > 0 and first.usage.cache_read_tokens == 0
    assert second.usage.cache_read_tokens == first.usage.cache_write_tokens and second.usage.cache_write_tokens == 0
    assert second.cost_usd < first.cost_usd


def test_a_prefix_below_the_models_minimum_is_not_cached_by_the_fake(fake_messages_api, provider, ctx):
    """The loopback fake enforces the minimum cacheable prefix, as the real API silently does."""
    fake_messages_api.enqueue(text_reply("a"), text_reply("b"))
    common = dict(model=MODEL, system="You are a careful auditor.", context="Project notes: " + "word " * 400)
    first = provider.call(CallRequest(prompt="unit 1", **common), ctx)
    second = provider.call(CallRequest(prompt="unit 2", **common), ctx)
    for usage in (first.usage, second.usage):
        assert usage.cache_write_tokens == 0 and usage.cache_read_tokens == 0
    assert second.usage.input_tokens == first.usage.input_tokens > 400


def test_without_context_the_system_prompt_is_the_cached_prefix(fake_messages_api, provider, ctx):
    fake_messages_api.enqueue(text_reply("a"))
    provider.call(CallRequest(prompt="unit", model=MODEL, system="Rules."), ctx)
    body = fake_messages_api.message_bodies()[0]
    assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in body["messages"][0]["content"][-1]


def test_secrets_are_redacted_and_the_key_only_travels_in_the_auth_header(fake_messages_api, provider, ctx):
    fake_messages_api.enqueue(text_reply("ok"))
    aws = "AKIAIOSFODNN7EXAMPLE"
    provider.call(CallRequest(
        prompt=f'config has password = "hunter2hunter2" and {aws}',
        system="token sk-ant-api03-leakedleakedleaked",
        context=f"env dump: ANTHROPIC_API_KEY={TEST_API_KEY}",
        model=MODEL), ctx)
    request = fake_messages_api.requests[0]
    raw = request.raw.decode()
    for secret in ("hunter2hunter2", aws, "sk-ant-api03-leaked", TEST_API_KEY):
        assert secret not in raw, secret
    assert "[REDACTED:password]" in raw and "[REDACTED:aws_access_key]" in raw
    assert provider.redactions >= 4
    # SDK 2.11 sends an API key as "Authorization: Bearer"; no other header carries it.
    carrying = [name for name, value in request.headers.items() if TEST_API_KEY in value]
    assert carrying == ["authorization"] and request.headers["authorization"] == f"Bearer {TEST_API_KEY}"


def test_model_comes_from_the_role_unless_given(fake_messages_api, settings, workspace, ctx):
    settings.model_refuter = "claude-haiku-4-5"
    settings.inference_geo = "eu"
    fake_messages_api.enqueue(text_reply("a"), text_reply("b"))
    provider = AnthropicProvider(settings, workspace)
    provider.call(CallRequest(prompt="refute", model="", role="refuter"), ctx)
    provider.call(CallRequest(prompt="explicit", model="claude-opus-4-5", role="refuter"), ctx)
    provider.close()
    first, second = fake_messages_api.message_bodies()
    assert first["model"] == "claude-haiku-4-5" and second["model"] == "claude-opus-4-5"
    assert first["inference_geo"] == "eu"


def test_options_and_limits_are_passed_through(fake_messages_api, provider, ctx):
    fake_messages_api.enqueue(text_reply("a"))
    provider.call(CallRequest(prompt="p", model=MODEL, max_tokens=321, options={"temperature": 0.0}), ctx)
    body = fake_messages_api.message_bodies()[0]
    assert body["max_tokens"] == 321 and body["temperature"] == 0.0


def test_a_broken_schema_is_reported_before_anything_is_sent(fake_messages_api, provider, ctx):
    with pytest.raises(ProviderError) as info:
        provider.call(CallRequest(prompt="p", model=MODEL, schema={"type": "objekt"}, label="audit:find"), ctx)
    assert "audit:find" in str(info.value) and "invalid JSON schema" in str(info.value)
    assert fake_messages_api.requests == []


def test_a_cancelled_call_sends_nothing(fake_messages_api, provider, ctx):
    ctx.cancelled.set()
    with pytest.raises(ProviderError):
        provider.call(CallRequest(prompt="p", model=MODEL), ctx)
    assert fake_messages_api.requests == []


def test_worst_case_covers_retries_and_is_priced(provider):
    plain = CallRequest(prompt="x" * 3000, model=MODEL, max_tokens=1000)
    structured = CallRequest(prompt="x" * 3000, model=MODEL, max_tokens=1000, schema=SCHEMA)
    tokens_plain, usd_plain = provider.full_worst_case(plain)
    tokens_structured, usd_structured = provider.full_worst_case(structured)
    assert tokens_plain >= 1000 + 1000  # 3000 characters of input and the full output
    assert tokens_structured >= 3 * tokens_plain  # three attempts, each re-sending more
    assert usd_structured > usd_plain > 0


def test_the_reservation_is_the_first_request_only(provider):
    # Issue 12: a refuter with tools reserved ~162,000 tokens up front; now its first
    # request is reserved and later turns are reserved as they happen.
    refuter = CallRequest(prompt="x" * 3000, model=MODEL, max_tokens=4096, schema=SCHEMA,
                          tools=("read_file", "search_text"))
    first, usd = provider.worst_case(refuter)
    whole, _ = provider.full_worst_case(refuter)
    assert first <= provider.input_estimate(refuter) + 4096 and whole > 5 * first and usd > 0


def test_count_tokens_uses_the_api(fake_messages_api, provider):
    tokens = provider.count_input_tokens(CallRequest(prompt="hello " * 100, model=MODEL, system="s"))
    assert tokens > 100
    assert fake_messages_api.count("POST", "/v1/messages/count_tokens") == 1
