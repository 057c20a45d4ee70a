"""The one interface every model provider implements, and the faults it may raise.

The scheduler calls `Provider.call` from a worker thread after it has reserved the
call's worst case in the budget and a concurrency slot; the journal stores the result
before the script sees it. Providers never talk to the journal or the budget themselves.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

from refute.orchestration.errors import NotAllowed
from refute.orchestration.model import CallRequest, CallResult


# Providers whose output is not a capable model's judgement, and the label every place that
# shows results (reports, SARIF, the CLI, the editor) puts on it.
DEMO_LABELS = {
    "scripted": "scripted (deterministic test answers, not a real model)",
    "local": "small local demo model (SmolLM2-135M via llama.cpp: real but not meaningful answers)",
}


def provider_label(provider: str | None) -> str:
    """How results from `provider` are described to people."""
    return DEMO_LABELS.get(provider or "", provider or "unknown")


class ProviderError(Exception):
    """A call failed. `retryable` says whether the scheduler may try it again."""

    retryable = False
    lowers_concurrency = False  # only "too much at once" (429, 529) lowers the AIMD limit

    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(ProviderError):
    """429: lower concurrency, wait `retry_after` seconds, try again."""

    retryable = True
    lowers_concurrency = True


class Overloaded(ProviderError):
    """529: lower concurrency, back off with jitter, try again. (Subclasses for 500s and
    connection resets retry the same way but do not lower concurrency.)"""

    retryable = True
    lowers_concurrency = True


class SpendLimitReached(ProviderError):
    """The account's spend limit: never retried, the run stops calling."""


class CallTimeout(ProviderError):
    retryable = True


class Truncated(ProviderError):
    """The model hit max_tokens: the answer is incomplete and is not parsed as empty."""


class Refused(ProviderError):
    """The model refused to answer (stop_reason "refusal")."""


class InvalidOutput(ProviderError):
    """Structured output did not validate against the schema (after retries)."""


class NotConfigured(ProviderError, NotAllowed):
    """No model is configured: the message names what to set."""


@dataclass
class CallContext:
    """What a provider may use while serving one call."""

    cancelled: threading.Event  # set when the run is cancelled: stop as soon as possible
    timeout_s: float  # per-call timeout
    workspace: str  # absolute path; agent tools are confined to it
    on_rate_limit: Callable[[float | None], None] = lambda retry_after: None  # tell the scheduler
    # Rate-limit headers of every answer (and 429), for pacing (orchestration/calls/pacing.py).
    on_headers: Callable[[Mapping[str, Any]], None] = lambda headers: None
    # Grow this call's budget reservation by (tokens, usd) before a further turn (a tool
    # turn, a corrective retry): False when the budget cannot pay it. None: the provider
    # keeps to the whole worst case it reported.
    extend_reservation: Callable[[int, float], bool] | None = None


@runtime_checkable
class Provider(Protocol):
    name: str  # "scripted" | "anthropic" | "openai" | "local": the label on everything it produced

    def call(self, request: CallRequest, ctx: CallContext) -> CallResult:
        """Serve one call or raise a ProviderError."""
        ...

    def worst_case(self, request: CallRequest) -> tuple[int, float]:
        """(tokens, usd) this call can cost at most: reserved in the budget before dispatch."""
        ...

    def close(self) -> None:
        ...
