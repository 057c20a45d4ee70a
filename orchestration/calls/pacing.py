"""Pacing dispatch from the API's rate-limit headers, before 429s happen.

The Messages API says on every answer how much is left: `anthropic-ratelimit-
{requests,input-tokens,output-tokens}-{limit,remaining,reset}` (limits per minute,
replenished continuously; reset is the RFC 3339 time the bucket is full again). The
scheduler used to learn about limits only from 429s: with 16 calls in flight that is a
storm of rejected requests, each waiting out a whole-second `retry-after`. The `Pacer`
mirrors the server's buckets instead: the level refills at limit/60 per second; a call
is dispatched only when its requests and input tokens fit, and debits them; each report
lowers the level to what the server said is left when it is lower (a report is computed
when its request was admitted, a whole generation before the answer arrives, so it is
an upper bound: taking it as the level let 7% of requests be answered 429). Until a first report arrives
(or with a provider that sends none: scripted, batch) it does nothing.

Input tokens of a call are an estimate (the provider's upper estimate, ~3 bytes a token),
calibrated against what the API reported for earlier calls (`observe`: a running ratio
of actual to estimated input tokens), and each call's debit is corrected by what the
server actually counted when its answer comes back (a 429 is refunded in full), so an
estimator that over-counts by a third does not leave a third of the limit unused.

bench/ratelimit.py measures it against the loopback limiter of tests/fakes: input-token
throughput at least 90% of the limit with at most 2% of requests answered 429, side by
side with pacing off.

Output-token limits are read but not paced (a call's output is not known before it is
made); a 429 for them still lowers concurrency through the AIMD limiter.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any, Mapping

PACED = ("requests", "input-tokens")
_HEADER = "anthropic-ratelimit-{}-{}"
MAX_WAIT_SLICE_S = 0.25  # a waiting call re-checks stop and new reports this often


class _Bucket:
    __slots__ = ("limit", "level", "updated")

    def __init__(self, limit: float, level: float, now: float):
        self.limit = limit
        self.level = level
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.limit, self.level + (now - self.updated) * self.limit / 60.0)
        self.updated = now

    def seconds_until(self, amount: float) -> float:
        return max(0.0, (amount - self.level) / (self.limit / 60.0))


class Pacer:
    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._cond = threading.Condition()
        self._estimated = 0.0  # input tokens estimated for calls whose actual count came back
        self._actual = 0.0
        self._unreported: dict[str, float] = {}  # debits made before the first report
        self.waits = 0  # dispatches that had to wait
        self.waited_s = 0.0

    @property
    def active(self) -> bool:
        return bool(self._buckets)

    def calibration(self) -> float:
        """Actual / estimated input tokens so far (1.0 before any observation)."""
        with self._cond:
            return self._actual / self._estimated if self._estimated > 0 else 1.0

    def observe(self, estimated_input: int, actual_input: int, debited: float) -> None:
        """A call came back: learn the estimator's ratio, and correct the bucket by what
        was debited for it beyond what the server counted (or below)."""
        with self._cond:
            if estimated_input > 0 and actual_input > 0:
                self._estimated += estimated_input
                self._actual += actual_input
            self._credit("input-tokens", debited - max(actual_input, 0))

    def refund(self, debited: float) -> None:
        """The server refused the request (429): it counted nothing for it."""
        with self._cond:
            self._credit("input-tokens", debited)
            self._credit("requests", 1.0)

    def _credit(self, name: str, amount: float) -> None:
        bucket = self._buckets.get(name)
        if bucket is not None:
            bucket.level = min(bucket.limit, bucket.level + amount)
            self._cond.notify_all()
        elif name in self._unreported:
            self._unreported[name] -= amount

    def report(self, headers: Mapping[str, Any]) -> None:
        """Take the limits and levels an answer (or a 429) reported."""
        now = time.monotonic()
        with self._cond:
            for name in PACED:
                limit = _number(headers.get(_HEADER.format(name, "limit")))
                remaining = _number(headers.get(_HEADER.format(name, "remaining")))
                if limit is None or remaining is None or limit <= 0:
                    continue
                bucket = self._buckets.get(name)
                if bucket is None:
                    # The server counted the calls sent before this first report, maybe
                    # after it computed `remaining`: debit them here too.
                    self._buckets[name] = _Bucket(limit, remaining - self._unreported.get(name, 0.0), now)
                else:
                    # A report is an upper bound: it was computed when its request was
                    # admitted, before calls sent since (an answer arrives a whole
                    # generation later). The local mirror already debited those.
                    bucket.refill(now)
                    bucket.limit = limit
                    bucket.level = min(bucket.level, remaining)
            self._cond.notify_all()

    def acquire(self, estimated_input: int, stop: threading.Event) -> float | None:
        """Wait until one request of `estimated_input` tokens fits, then debit it; returns
        the input tokens debited (hand them to `observe` or `refund`). None when `stop`
        was set while waiting."""
        need = {"requests": 1.0, "input-tokens": float(estimated_input) * self.calibration()}
        started = None
        with self._cond:
            if not self._buckets:
                for name, amount in need.items():
                    self._unreported[name] = self._unreported.get(name, 0.0) + amount
                return need["input-tokens"]
            while True:
                if stop.is_set():
                    return None
                now = time.monotonic()
                wait = 0.0
                for name, bucket in self._buckets.items():
                    bucket.refill(now)
                    # A call larger than the whole bucket waits for a full bucket, not forever.
                    wait = max(wait, bucket.seconds_until(min(need[name], bucket.limit)))
                if wait <= 0:
                    for name, bucket in self._buckets.items():
                        bucket.level -= need[name]
                    if started is not None:
                        self.waits += 1
                        self.waited_s += now - started
                    return need["input-tokens"]
                started = started if started is not None else now
                self._cond.wait(min(wait, MAX_WAIT_SLICE_S))


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def reset_seconds(value: str | None) -> float | None:
    """Seconds until an RFC 3339 `...-reset` time (None when absent or unreadable)."""
    if not value:
        return None
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, when.timestamp() - time.time())
