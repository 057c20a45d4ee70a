"""Batch mode: calls go out together as one Message Batch at half price, are polled to
completion, and an interrupted run resumes by batch id instead of resubmitting."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from refute.orchestration.calls import pricing
from refute.orchestration.model import CallRequest
from refute.orchestration.providers.anthropic import AnthropicProvider
from refute.orchestration.providers.base import CallContext, InvalidOutput, Overloaded, ProviderError, RateLimited
from refute.orchestration.providers.batches import BatchItemFailed
from tests.fakes.messages_api import batch_expired, error_reply, invalid_json_reply, json_reply, rate_limited, text_reply

MODEL = "claude-haiku-4-5"


@pytest.fixture
def batch_settings(settings):
    settings.batch = True
    settings.batch_window_s = 0.2  # read with getattr: not (yet) fields of EngineSettings
    settings.batch_poll_s = 0.05
    return settings


def _provider(settings, workspace):
    return AnthropicProvider(settings, workspace)


def test_concurrent_calls_share_one_batch_at_half_price(fake_messages_api, batch_settings, workspace, ctx):
    fake_messages_api.responder = lambda call: json_reply({"echo": call.params["messages"][0]["content"][-1]["text"]})
    provider = _provider(batch_settings, workspace)
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda i: provider.call(
            CallRequest(prompt=f"unit {i}", model=MODEL, schema=schema), ctx), range(3)))
    provider.close()
    assert [r.data["echo"] for r in results] == ["unit 0", "unit 1", "unit 2"]
    assert fake_messages_api.count("POST", "/v1/messages/batches") == 1
    assert fake_messages_api.count("POST", "/v1/messages") == 0
    batch = next(r for r in fake_messages_api.requests if r.path == "/v1/messages/batches")
    items = batch.body["requests"]
    assert len(items) == 3 and all(len(i["custom_id"]) == 64 for i in items)
    assert items[0]["params"]["output_config"]["format"]["type"] == "json_schema"
    for result in results:
        assert result.cost_usd == pytest.approx(pricing.cost(MODEL, result.usage, batch=True))
        assert result.cost_usd == pytest.approx(pricing.cost(MODEL, result.usage) / 2)


def test_interrupted_run_resumes_by_batch_id(fake_messages_api, batch_settings, workspace):
    fake_messages_api.enqueue(text_reply("answer from the first submission"))
    fake_messages_api.batch_ready_after_polls = 10_000  # stays in progress while run 1 waits
    request = CallRequest(prompt="slow audit", model=MODEL)

    first = _provider(batch_settings, workspace)
    ctx1 = CallContext(cancelled=threading.Event(), timeout_s=2.0, workspace=str(workspace))
    outcome: dict = {}
    worker = threading.Thread(target=lambda: outcome.setdefault("error", _raises(first, request, ctx1)))
    worker.start()
    _wait_for(lambda: fake_messages_api.count("POST", "/v1/messages/batches") == 1)
    ctx1.cancelled.set()  # the run is interrupted while the batch is in progress
    worker.join(5)
    first.close()
    assert "cancelled" in str(outcome["error"])

    fake_messages_api.batch_ready_after_polls = 0
    second = _provider(batch_settings, workspace)
    ctx2 = CallContext(cancelled=threading.Event(), timeout_s=2.0, workspace=str(workspace))
    result = second.call(request, ctx2)
    second.close()
    assert result.text == "answer from the first submission"
    assert fake_messages_api.count("POST", "/v1/messages/batches") == 1  # not submitted again
    assert fake_messages_api.count("GET", r"/v1/messages/batches/[^/]+/results") == 1


def test_errored_and_expired_items_map_to_typed_errors(fake_messages_api, batch_settings, workspace, ctx):
    fake_messages_api.enqueue(error_reply(529, "overloaded_error", "Overloaded"), batch_expired())
    provider = _provider(batch_settings, workspace)
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(_raises, provider, CallRequest(prompt=f"p{i}", model=MODEL), ctx) for i in range(2)]
        errors = sorted((f.result() for f in futures), key=lambda e: type(e).__name__)
    provider.close()
    assert [type(e) for e in errors] == [BatchItemFailed, Overloaded]
    assert all(e.retryable for e in errors)


def test_a_failed_item_is_submitted_afresh_on_retry(fake_messages_api, batch_settings, workspace, ctx):
    fake_messages_api.enqueue(error_reply(500, "api_error", "boom"), text_reply("second time lucky"))
    provider = _provider(batch_settings, workspace)
    request = CallRequest(prompt="p", model=MODEL)
    assert isinstance(_raises(provider, request, ctx), Overloaded)
    assert provider.call(request, ctx).text == "second time lucky"  # what the scheduler's retry does
    provider.close()
    assert fake_messages_api.count("POST", "/v1/messages/batches") == 2


def test_batch_submission_faults_are_typed(fake_messages_api, batch_settings, workspace, ctx):
    fake_messages_api.fail_next("POST", "/v1/messages/batches", rate_limited(retry_after=4))
    provider = _provider(batch_settings, workspace)
    error = _raises(provider, CallRequest(prompt="p", model=MODEL), ctx)
    provider.close()
    assert isinstance(error, RateLimited) and error.retry_after == 4.0


def test_structured_output_retries_go_through_batches_too(fake_messages_api, batch_settings, workspace, ctx):
    fake_messages_api.enqueue(invalid_json_reply(), invalid_json_reply(), invalid_json_reply())
    provider = _provider(batch_settings, workspace)
    error = _raises(provider, CallRequest(prompt="p", model=MODEL, schema={"type": "object"}), ctx)
    provider.close()
    assert isinstance(error, InvalidOutput)
    assert fake_messages_api.count("POST", "/v1/messages/batches") == 3


def _raises(provider, request, ctx) -> ProviderError:
    try:
        provider.call(request, ctx)
    except ProviderError as exc:
        return exc
    raise AssertionError("the call was expected to fail")


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)
