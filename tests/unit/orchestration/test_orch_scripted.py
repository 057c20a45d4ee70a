"""The scripted provider: fixtures, functions, faults, usage, labels, configuration errors."""

from __future__ import annotations

import json
import threading

import pytest

from refute.orchestration.model import CallRequest
from refute.orchestration.providers import make_provider
from refute.orchestration.providers.base import CallContext, NotConfigured, RateLimited, SpendLimitReached
from refute.orchestration.providers.scripted import ScriptedProvider
from refute.orchestration.settings import EngineSettings


def ctx() -> CallContext:
    return CallContext(cancelled=threading.Event(), timeout_s=5, workspace=".")


def req(prompt: str, **kw) -> CallRequest:
    return CallRequest(prompt=prompt, model="claude-haiku-4-5", **kw)


def test_fixture_rules_match_in_order_and_results_are_labelled(tmp_path):
    (tmp_path / "f.json").write_text(json.dumps([
        {"match": "^verify", "role": "refuter", "reply": {"verdict": "refuted"}},
        {"match": ".", "label": "special", "reply": "special answer", "usage": {"input_tokens": 7, "output_tokens": 3}},
        {"match": ".", "reply": "anything"},
    ]))
    provider = make_provider(EngineSettings(provider="scripted", scripted_fixture="f.json"), tmp_path)
    r1 = provider.call(req("verify this", role="refuter", schema={"type": "object"}), ctx())
    assert r1.data == {"verdict": "refuted"} and json.loads(r1.text) == {"verdict": "refuted"}
    r2 = provider.call(req("x", label="special"), ctx())
    assert r2.text == "special answer" and r2.usage.input_tokens == 7 and r2.usage.output_tokens == 3
    r3 = provider.call(req("verify this", role="finder"), ctx())
    assert r3.text == "anything"
    assert {r.provider for r in (r1, r2, r3)} == {"scripted"}


def test_errors_apply_a_number_of_times_then_answer():
    provider = ScriptedProvider(rules=[{"match": ".", "error": "rate_limit", "times": 2, "retry_after": 1.5},
                                       {"match": ".", "reply": "finally"}])
    for _ in range(2):
        with pytest.raises(RateLimited) as info:
            provider.call(req("q"), ctx())
        assert info.value.retry_after == 1.5
    assert provider.call(req("q"), ctx()).text == "finally"


def test_function_provider_from_a_file(tmp_path):
    (tmp_path / "answers.py").write_text(
        "from refute.orchestration.providers.base import SpendLimitReached\n"
        "def answer(request):\n"
        "    if 'stop' in request['prompt']:\n        raise SpendLimitReached('limit')\n"
        "    return {'echo': request['prompt'], 'label': request['label']}\n")
    provider = make_provider(EngineSettings(provider="scripted", scripted_fixture="answers.py:answer"), tmp_path)
    result = provider.call(req("hello", label="L", schema={"type": "object"}), ctx())
    assert result.data == {"echo": "hello", "label": "L"} and result.provider == "scripted"
    with pytest.raises(SpendLimitReached):
        provider.call(req("stop now"), ctx())


def test_function_file_may_use_dataclasses_with_postponed_annotations(tmp_path):
    # dataclasses resolves string annotations through sys.modules[cls.__module__]: the
    # file must be registered there before it runs, as a real import would do.
    (tmp_path / "typed_answers.py").write_text(
        "from __future__ import annotations\n"
        "from dataclasses import dataclass, field\n"
        "from typing import ClassVar\n"
        "@dataclass\nclass Reply:\n    text: str\n    tags: list[str] = field(default_factory=list)\n"
        "    kind: ClassVar[str] = 'reply'\n"
        "def answer(request):\n    return Reply(request['prompt'].upper()).text\n")
    provider = make_provider(EngineSettings(provider="scripted", scripted_fixture="typed_answers.py:answer"), tmp_path)
    assert provider.call(req("hello"), ctx()).text == "HELLO"


def test_a_context_below_the_models_minimum_cacheable_prefix_is_plain_input():
    provider = ScriptedProvider(rules=[{"match": ".", "reply": "ok"}])
    for _ in range(2):
        usage = provider.call(req("question", context="shared code " * 200, max_tokens=20), ctx()).usage
        assert usage.cache_write_tokens == 0 and usage.cache_read_tokens == 0 and usage.input_tokens > 600


def test_usage_counts_context_as_cache_write_then_read_and_stays_within_worst_case():
    provider = ScriptedProvider(rules=[{"match": ".", "reply": "word " * 50}])
    request = req("question", context="shared code " * 1600, max_tokens=20)  # above haiku-4-5's 4,096-token minimum
    first = provider.call(request, ctx()).usage
    second = provider.call(req("another", context="shared code " * 1600, max_tokens=20), ctx()).usage
    assert first.cache_write_tokens > 0 and first.cache_read_tokens == 0
    assert second.cache_read_tokens == first.cache_write_tokens and second.cache_write_tokens == 0
    assert first.output_tokens == 20  # capped at max_tokens
    tokens, usd = provider.worst_case(request)
    assert first.total_tokens <= tokens and usd > 0


def test_latency_is_interruptible():
    provider = ScriptedProvider(rules=[{"match": ".", "reply": "late"}], latency_s=30)
    c = ctx()
    c.cancelled.set()
    with pytest.raises(Exception) as info:
        provider.call(req("q"), c)
    assert "cancelled" in str(info.value)


@pytest.mark.parametrize("source,message", [
    (None, "needs a fixture"),
    ("missing.json", "cannot read"),
    ("bad.json", "not valid JSON"),
    ("rules.json", "unknown error 'boom'"),
    ("nosuchmodule_xyz:answer", "cannot import"),
])
def test_configuration_errors_are_clear(tmp_path, source, message):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "rules.json").write_text(json.dumps([{"match": ".", "error": "boom"}]))
    with pytest.raises(NotConfigured) as info:
        make_provider(EngineSettings(provider="scripted", scripted_fixture=source), tmp_path)
    assert message in str(info.value)


def test_unknown_provider_name():
    with pytest.raises(NotConfigured) as info:
        make_provider(EngineSettings(provider="gemini"), ".")
    assert "anthropic, openai, local, scripted" in str(info.value)


def test_no_matching_rule_is_an_invalid_output():
    from refute.orchestration.providers.base import InvalidOutput

    provider = ScriptedProvider(rules=[{"match": "^only this", "reply": "x"}])
    with pytest.raises(InvalidOutput) as info:
        provider.call(req("something else", label="my call"), ctx())
    assert "my call" in str(info.value)


def test_spend_limit_maps_from_fixture():
    provider = ScriptedProvider(rules=[{"match": ".", "error": "spend_limit"}])
    with pytest.raises(SpendLimitReached):
        provider.call(req("q"), ctx())
