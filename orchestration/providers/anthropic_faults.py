"""The Anthropic API's faults as the typed faults the scheduler understands.

Shared by the Messages provider (anthropic.py), Message Batches (batches.py) and the
OpenAI-compatible provider, without an import cycle between them: 429 -> RateLimited,
529 -> Overloaded, other 5xx -> ServerError and a reset connection -> ConnectionLost
(retried, but they do not lower concurrency), spend limits -> SpendLimitReached (never
retried), 401 -> NotConfigured naming what to set.
"""

from __future__ import annotations

import email.utils
import logging
import time
from typing import Any

import anthropic

from refute.orchestration.calls.redaction import scrub
from refute.orchestration.providers.base import (CallContext, CallTimeout, NotConfigured, Overloaded, ProviderError,
    RateLimited, SpendLimitReached)

log = logging.getLogger(__name__)

PLAN_HINT = "`refute plan` estimates a run without calling a model."


class ConnectionLost(Overloaded):
    """The connection failed or was reset before an answer: retryable like an overload,
    but not a signal to lower concurrency."""

    lowers_concurrency = False


class ServerError(Overloaded):
    """A 5xx other than 529: retryable with backoff, but not a signal to lower concurrency."""

    lowers_concurrency = False


class Cancelled(ProviderError):
    """The run was cancelled while this call waited; nothing more is sent."""


def retry_after_seconds(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` / `retry-after` (seconds or an HTTP date), if given."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - time.time())


_SPEND_WORDS = ("spend limit", "usage limit", "credit balance", "spending limit")


def is_spend_limit(status: int | None, error_code: str | None, message: str) -> bool:
    """A spend/usage limit: 429 or 400/402/403 that says so. Never retried."""
    if error_code and error_code.endswith("spend_limit_reached"):
        return True
    return status in (400, 402, 403, 429) and any(w in message.lower() for w in _SPEND_WORDS)


def error_from_type(error_type: str | None, message: str, *, status: int | None = None,
                    error_code: str | None = None, retry_after: float | None = None) -> ProviderError:
    """The typed fault for an API error (from an HTTP status or a batch item's error)."""
    text = scrub(f"{status or ''} {error_type or 'error'}: {message}".strip())
    if is_spend_limit(status, error_code, message):
        return SpendLimitReached(f"Anthropic spend limit reached ({text}); raise the limit in the Console. "
                                 "Calls are not retried.")
    if status == 429 or error_type == "rate_limit_error":
        return RateLimited(f"rate limited ({text})", retry_after=retry_after)
    if status == 529 or error_type == "overloaded_error":
        return Overloaded(f"overloaded ({text})", retry_after=retry_after)
    if status in (408,) or error_type == "timeout_error":
        return CallTimeout(f"request timed out at the API ({text})", retry_after=retry_after)
    if (status or 0) >= 500 or error_type == "api_error":
        return ServerError(f"server error ({text})", retry_after=retry_after)
    if status == 401 or error_type == "authentication_error":
        return NotConfigured(f"the API rejected the credentials ({text}); check ANTHROPIC_API_KEY "
                             f"(or ANTHROPIC_AUTH_TOKEN for a gateway). {PLAN_HINT}")
    if status == 404 or error_type == "not_found_error":
        return ProviderError(f"not found ({text}); check the model name (settings model_default/"
                             "model_finder/model_refuter/model_editor) and anthropic_base_url")
    return ProviderError(f"request rejected ({text})")


def map_api_error(exc: Exception) -> ProviderError:
    """An SDK exception as the typed fault the scheduler understands."""
    if isinstance(exc, anthropic.APITimeoutError):
        return CallTimeout(scrub(f"no answer before the timeout ({exc.__class__.__name__})"))
    if isinstance(exc, anthropic.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f"{cause.__class__.__name__}: {cause}" if cause else str(exc)
        return ConnectionLost(scrub(f"connection failed ({detail})"))
    if isinstance(exc, anthropic.APIStatusError):
        message = exc.api_message or str(exc)
        return error_from_type(exc.type, message, status=exc.status_code, error_code=exc.error_code,
                               retry_after=retry_after_seconds(exc.response.headers))
    return other_error(exc, anthropic.AnthropicError)


def other_error(exc: BaseException, sdk_error: type[BaseException]) -> ProviderError:
    """A fault no rule above named: the SDK's own errors by their class, anything else as
    unexpected (both scrubbed of secrets). Shared with the OpenAI-compatible provider."""
    prefix = "" if isinstance(exc, sdk_error) else "unexpected "
    return ProviderError(scrub(f"{prefix}{exc.__class__.__name__}: {exc}"))


def tell_scheduler(error: ProviderError, ctx: CallContext) -> None:
    """429 and 529 mean "too much at once": the scheduler lowers concurrency."""
    if isinstance(error, RateLimited) or (isinstance(error, Overloaded)
                                          and not isinstance(error, (ConnectionLost, ServerError))):
        try:
            ctx.on_rate_limit(error.retry_after)
        except Exception:  # the scheduler's hook must not turn a fault into a crash
            log.exception("on_rate_limit hook failed")
