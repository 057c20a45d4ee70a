"""Pacing dispatch from the API's rate-limit headers, before 429s happen.

The Messages API says on every answer how much is left: `anthropic-ratelimit-
{requests,input-tokens,output-tokens}-{limit,remaining,reset}` (limits per minute,
replenished continuously; reset is the RFC 3339 time the bucket is full again). The
scheduler used to learn about limits only from 429s: with 16 calls in flight that is a
storm of rejected requests, each waiting out a whole-second `retry-after`. The `Pacer`
mirrors the server's buckets instead: the level refills at limit/60 per second; a call
is dispatched only when its requests, input and output tokens fit, and debits them; each report
lowers the level to what the server said is left when it is lower (a report is computed
when its request was admitted, a whole generation before the answer arrives, so it is
an upper bound: taking it as the level let 7% of requests be answered 429). Until a first
report arrives the limits are unknown: the first call goes alone (a probe) and the others
wait for its answer, because a first burst of 16 calls with a 4,096-token max_tokens is
65,536 output tokens, eight times a low tier's per-minute output limit. A provider whose
answer carries no report (a self-hosted server) is not paced after that first call.

Input tokens of a call are the provider's estimate (`input_estimate`: ~3 bytes a token,
then calibrated against the counts the API reported, providers/reservation.py: the one
calibration, shared with budget reservations; a second ratio here fought it and let
under-estimates through), and each call's debit is corrected by what the server actually
counted when its answer comes back (a 429 is refunded in full), so an estimator that
over-counts does not leave part of the limit unused.

bench/ratelimit.py measures it against the loopback limiter of tests/fakes: input-token
throughput at least 90% of the limit with at most 2% of requests answered 429, side by
side with pacing off.

Output tokens are paced the way the API counts them: a call is admitted against its
`max_tokens` (the API's own estimate at the start of a request), and when the answer
comes back the difference to the output it really generated is credited back. So a
16-way burst of calls with a 4,096-token `max_tokens` waits for room under the output
limit instead of collecting 429s, and small answers do not leave the limit unused.
"""

from __future__ import annotations

import datetime
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

PACED = ("requests", "input-tokens", "output-tokens")
_HEADER = "anthropic-ratelimit-{}-{}"
MAX_WAIT_SLICE_S = 0.25  # a waiting call re-checks stop and new reports this often


class _Bucket:
    __slots__ = ("limit", "capacity", "level", "updated")

    def __init__(self, limit: float, level: float, now: float):
        self.limit = limit  # per minute: the refill rate
        self.capacity = limit  # the most it holds (the API's is a minute's worth; see report())
        self.level = level
        self.updated = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.limit / 60.0)
        self.updated = now

    def seconds_until(self, amount: float) -> float:
        return max(0.0, (amount - self.level) / (self.limit / 60.0))


@dataclass(frozen=True)
class Debit:
    """What one dispatch took from the buckets (hand it back to `observe` or `refund`)."""

    input_tokens: float
    output_tokens: float
    probe: bool = False  # sent before any report: the others wait until it is finished
    seq: int = 0  # dispatch order


class Pacer:
    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._cond = threading.Condition()
        self._unreported: dict[str, float] = {}  # debits made before the first report
        self._held_output: dict[int, float] = {}  # dispatch seq -> output debited, for calls not finished
        self._seq = 0
        self._probing = False  # the first call is out and no report has come yet
        self._silent = False  # the provider sent no report with its first answer: nothing to pace
        self.waits = 0  # dispatches that had to wait
        self.waited_s = 0.0

    @property
    def active(self) -> bool:
        return bool(self._buckets)

    def observe(self, actual_input: int, actual_output: int, debit: Debit) -> None:
        """A call came back: correct the buckets by what was debited for it beyond what the
        server counted (or below)."""
        with self._cond:
            self._credit("input-tokens", debit.input_tokens - max(actual_input, 0))
            self._credit("output-tokens", debit.output_tokens - max(actual_output, 0))

    def refund(self, debit: Debit) -> None:
        """The server refused the request (429): it counted nothing for it."""
        with self._cond:
            self._credit("input-tokens", debit.input_tokens)
            self._credit("output-tokens", debit.output_tokens)
            self._credit("requests", 1.0)

    def finished(self, debit: Debit) -> None:
        """The call of `debit` is over, whatever its outcome (after observe or refund): its
        output is no longer held. The end of the probe lets the waiting calls go: paced if
        it brought a report."""
        with self._cond:
            self._held_output.pop(debit.seq, None)
            if debit.probe:
                self._probing = False
                self._silent = not self._buckets
                self._cond.notify_all()

    def _hold(self, debit: Debit) -> Debit:
        self._seq += 1
        debit = Debit(debit.input_tokens, debit.output_tokens, probe=debit.probe, seq=self._seq)
        self._held_output[debit.seq] = debit.output_tokens
        return debit

    def _credit(self, name: str, amount: float) -> None:
        bucket = self._buckets.get(name)
        if bucket is not None:
            bucket.level = min(bucket.capacity, bucket.level + amount)
            self._cond.notify_all()
        elif name in self._unreported:
            self._unreported[name] -= amount

    def report(self, headers: Mapping[str, Any], since: Debit | None = None) -> None:
        """Take the limits and levels an answer (or a 429) reported; `since` is the debit of
        the call it answered."""
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
                    bucket = self._buckets[name] = _Bucket(limit, remaining - self._unreported.get(name, 0.0), now)
                else:
                    # A report is an upper bound: it was computed when its request was
                    # admitted, before calls sent since (an answer arrives a whole
                    # generation later). The local mirror already debited those.
                    bucket.refill(now)
                    bucket.limit = limit
                    # Output is held for a whole generation: the report of a call predates
                    # the calls dispatched after it that still generate, so their output is
                    # taken off it (a report of unknown origin: all running calls').
                    held = (sum(out for seq, out in self._held_output.items() if since is None or seq > since.seq)
                            if name == "output-tokens" else 0.0)
                    bucket.level = min(bucket.level, remaining - held)
                # `reset` is when the bucket is full again: what it holds is what is left
                # plus that long of refill (the same at any moment, so a stale report
                # tells it as well as a fresh one). Without it: a minute's worth.
                until_full = reset_seconds(headers.get(_HEADER.format(name, "reset")))
                bucket.capacity = (min(limit, max(remaining, remaining + until_full * limit / 60.0))
                                   if until_full is not None else limit)
                bucket.level = min(bucket.level, bucket.capacity)
            self._cond.notify_all()

    def acquire(self, estimated_input: int, max_output: int, stop: threading.Event) -> Debit | None:
        """Wait until one request of `estimated_input` tokens that may generate `max_output`
        fits, then debit it; returns the debit (hand it to `observe` or `refund`). None when
        `stop` was set while waiting."""
        need = {"requests": 1.0, "input-tokens": float(estimated_input),
                "output-tokens": float(max(max_output, 0))}
        debit = Debit(need["input-tokens"], need["output-tokens"])
        started = None
        with self._cond:
            while True:
                if stop.is_set():
                    return None
                if not self._buckets:
                    if self._silent or not self._probing:
                        for name, amount in need.items():
                            self._unreported[name] = self._unreported.get(name, 0.0) + amount
                        self._probing = not self._silent
                        return self._hold(Debit(debit.input_tokens, debit.output_tokens, probe=self._probing))
                    self._cond.wait(MAX_WAIT_SLICE_S)  # the probe's answer tells the limits
                    continue
                now = time.monotonic()
                wait = 0.0
                for name, bucket in self._buckets.items():
                    bucket.refill(now)
                    # A call larger than the whole bucket waits for a full bucket, not forever.
                    wait = max(wait, bucket.seconds_until(min(need[name], bucket.capacity)))
                if wait <= 0:
                    for name, bucket in self._buckets.items():
                        bucket.level -= need[name]
                    if started is not None:
                        self.waits += 1
                        self.waited_s += now - started
                    return self._hold(debit)
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
