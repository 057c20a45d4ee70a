"""Every transport fault becomes the typed error the scheduler expects, with the SDK's own
retries off (exactly one HTTP request per fault) and the scheduler told about 429/529."""

from __future__ import annotations

import pytest

from refute.orchestration.model import CallRequest
from refute.orchestration.providers.anthropic import AnthropicProvider, ConnectionLost, ServerError
from refute.orchestration.providers.base import (CallTimeout, NotConfigured, Overloaded, ProviderError, RateLimited,
    SpendLimitReached)
from tests.fakes.messages_api import (TEST_API_KEY, connection_reset, error_reply, overloaded, rate_limited,
    server_error, slow, spend_limit, text_reply)


def _call(fake, settings, workspace, ctx, reply):
    fake.enqueue(reply)
    provider = AnthropicProvider(settings, workspace)
    try:
        with pytest.raises(ProviderError) as info:
            provider.call(CallRequest(prompt="review this", model="claude-haiku-4-5"), ctx)
    finally:
        provider.close()
    assert fake.count("POST", "/v1/messages") == 1, "the SDK must not retry on its own"
    assert TEST_API_KEY not in str(info.value)
    return info.value


def test_429_is_rate_limited_with_retry_after(fake_messages_api, settings, workspace, ctx):
    error = _call(fake_messages_api, settings, workspace, ctx, rate_limited(retry_after=7))
    assert type(error) is RateLimited and error.retryable
    assert error.retry_after == 7.0
    assert ctx.signals == [7.0]


def test_529_is_overloaded_and_lowers_concurrency(fake_messages_api, settings, workspace, ctx):
    error = _call(fake_messages_api, settings, workspace, ctx, overloaded(retry_after=2))
    assert type(error) is Overloaded and error.retryable and error.retry_after == 2.0
    assert ctx.signals == [2.0]


def test_500_is_a_retryable_server_error(fake_messages_api, settings, workspace, ctx):
    error = _call(fake_messages_api, settings, workspace, ctx, server_error(500))
    assert isinstance(error, Overloaded) and isinstance(error, ServerError) and error.retryable
    assert ctx.signals == []  # a 500 is not a capacity signal


def test_connection_reset_is_retryable(fake_messages_api, settings, workspace, ctx):
    error = _call(fake_messages_api, settings, workspace, ctx, connection_reset())
    assert isinstance(error, ConnectionLost) and error.retryable
    assert "connection failed" in str(error)


def test_slow_reply_past_the_timeout_is_call_timeout(fake_messages_api, settings, workspace, ctx):
    ctx.timeout_s = 0.3
    error = _call(fake_messages_api, settings, workspace, ctx, slow(text_reply("late"), 3.0))
    assert type(error) is CallTimeout and error.retryable


@pytest.mark.parametrize("coded", [True, False])
def test_spend_limit_is_never_retried(fake_messages_api, settings, workspace, ctx, coded):
    error = _call(fake_messages_api, settings, workspace, ctx, spend_limit(coded=coded))
    assert type(error) is SpendLimitReached and not error.retryable
    assert "spend limit" in str(error).lower()


def test_bad_credentials_are_not_configured(fake_messages_api, settings, workspace, ctx):
    error = _call(fake_messages_api, settings, workspace, ctx,
                  error_reply(401, "authentication_error", "invalid x-api-key"))
    assert type(error) is NotConfigured and not error.retryable
    assert "ANTHROPIC_API_KEY" in str(error)


def test_other_client_errors_are_not_retryable(fake_messages_api, settings, workspace, ctx):
    error = _call(fake_messages_api, settings, workspace, ctx,
                  error_reply(400, "invalid_request_error", "max_tokens: too large"))
    assert type(error) is ProviderError and not error.retryable
    assert "max_tokens: too large" in str(error)
