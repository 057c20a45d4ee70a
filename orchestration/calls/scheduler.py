"""The scheduler: every agent call of a run goes through `Scheduler.call`.

Per call, in this order:
1. give it its journal key: the content of what was asked plus its occurrence number
   (the 2nd identical call in a run is a distinct sample, not a copy of the 1st: three
   votes with one prompt make three calls, and still replay in any order);
2. replay it from the journal if it finished before (zero tokens paid, `replayed: true`,
   the original usage shown once as `original_usage`). An answer this same run paid for
   whose `call_finished` never reached the run's log (the process was killed between the
   journal write and the event) is charged now (`recovered: true`), so kill -9 and
   resume never under-count. Replays have their own runaway guard (MAX_REPLAYS_FACTOR x
   the call cap);
3. count it against the run's cap of PAID calls (`max_calls`, 1,000): reaching it is an
   outcome, not a failure (`limit_reached`: dispatch stops, in-flight calls finish, the
   run ends `budget_reached`);
   Then join an identical call already in flight: in this process through a future, in
   another process sharing the workspace through a lease (store/leases.py): the call is
   awaited in the journal and replayed, not paid;
4. prompt-cache warm-up: the first call with a given `context` goes alone; the others
   with that context wait until it has finished, so they read the cache it wrote (not in
   batch mode, where that wait would be a whole batch);
5. take a concurrency slot (AIMD limit: halved on 429/529 only (never on 500s or
   connection resets), +1 after a window of consecutive successes, never above the
   configured maximum: 16 at most, or in batch mode up to batch_max_requests, see
   `in_flight_limit`); wait for the pacer (rate-limit headers, calls/pacing.py);
6. reserve its cost in the budget (budget.py `reserve_sized`): the full worst case when
   it fits; else wait for calls in flight to settle; with nothing in flight, the call's
   max_tokens is lowered to what the budget can still pay, and when not even that fits
   the budget is reached (an outcome, like the call cap). The slot is held until the
   reservation is settled, so at concurrency 1 reservations never overlap;
7. call the provider in its own thread with a per-call timeout (batch mode: on the
   caller's thread, with a deadline of at least 24 h, since a batch may take that long;
   cancel still stops it at once); retry retryable faults
   (retry-after when given, else exponential backoff with jitter), a bounded number of
   times; SpendLimitReached is never retried and stops every later call;
8. write the result to the journal, then settle the budget, then return it. A failed
   attempt that used tokens anyway (truncated, refused, invalid output: the provider
   sets `exc.usage` / `exc.cost_usd`) settles its reservation with that spend; it is
   reported in `call_failed` (`usage`, `cost_usd`) or, when a retry succeeds, added to
   the `call_finished` numbers.
Events describe each step (call_started, call_finished, call_failed, concurrency,
progress) and go to the run's event stream.
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from refute.orchestration.calls import pricing
from refute.orchestration.calls.budget import BudgetLedger
from refute.orchestration.calls.pacing import Debit, Pacer
from refute.orchestration.errors import AgentError, BudgetExceeded, CallLimitExceeded, RunInterrupted
from refute.orchestration.store.journal import Journal
from refute.orchestration.model import CallRequest, CallResult, Usage, stable_hash
from refute.orchestration.providers.base import (
    CallContext,
    CallTimeout,
    Overloaded,
    Provider,
    ProviderError,
    RateLimited,
    SpendLimitReached,
)
from refute.orchestration.verification.schemas import validate
from refute.orchestration.calls.redaction import scrub

Emit = Callable[..., None]

# The Message Batches API ends every batch within 24 hours: a call waiting on one gets that long.
BATCH_CALL_TIMEOUT_S = 24 * 3600.0
# Task threads beyond the in-flight limit, for script work between calls (batch mode).
BATCH_EXTRA_TASK_THREADS = 64
# Replays are free, so the paid-call cap does not count them; this guard stops a script
# that loops over the journal forever (10 x the cap: a re-run of a full 1,000-call run
# replays 1,000).
MAX_REPLAYS_FACTOR = 10
# A call whose budget share would leave less output room than this is not sent (the budget
# is reached) rather than sent to be cut off at once.
MIN_OUTPUT_TOKENS = 1024


def occurrence_key(base_key: str, occurrence: int) -> str:
    """The journal key of the n-th identical call of a run (0-based). The first keeps the
    plain content key, so journals written before occurrence numbers still replay."""
    return base_key if occurrence == 0 else stable_hash("occurrence", base_key, occurrence)


def in_flight_limit(settings: Any, max_concurrency: int | None = None) -> int:
    """Calls in flight at most. Normally max_concurrency (never above 16). In batch mode a
    call in flight only waits for its batch, so up to batch_max_requests (bounded by
    max_calls) may wait at once: that is what fills a batch."""
    limit = int(max_concurrency or settings.max_concurrency)
    if getattr(settings, "batch", False):
        limit = max(limit, min(int(settings.batch_max_requests), int(settings.max_calls)))
    return max(1, limit)


def task_threads(in_flight: int, batch: bool) -> int:
    """Task threads for parallel()/pipeline(): 4 x the in-flight limit normally; in batch
    mode one per waiting call plus a few (each thread reserves its stack, and the worker's
    address space is limited)."""
    return in_flight + BATCH_EXTRA_TASK_THREADS if batch else max(4 * in_flight, 8)


class _Deadline(threading.Event):
    """A call's cancel flag that also reads as set once its deadline has passed, so a
    provider that polls `ctx.cancelled` (the batch collector does, every 0.2 s) stops at
    the deadline without a timer thread per call."""

    def __init__(self, seconds: float):
        super().__init__()
        self.deadline = time.monotonic() + seconds

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def is_set(self) -> bool:
        return super().is_set() or self.expired()

    def wait(self, timeout: float | None = None) -> bool:
        remaining = max(self.deadline - time.monotonic(), 0.0)
        return super().wait(remaining if timeout is None else min(timeout, remaining)) or self.is_set()


class ConcurrencyLimiter:
    """Additive-increase / multiplicative-decrease limit on calls in flight."""

    def __init__(self, maximum: int, emit: Emit, *, increase_after: int | None = None):
        self.maximum = max(1, int(maximum))
        self.limit = self.maximum
        self.in_flight = 0
        self.peak = 0
        self.epoch = 0  # bumped on every decrease; signals from older dispatches are ignored
        self._successes = 0
        self._increase_after = increase_after
        self._cond = threading.Condition()
        self._emit = emit

    def acquire(self, stop: threading.Event) -> int:
        with self._cond:
            while self.in_flight >= self.limit:
                if stop.is_set():
                    raise RunInterrupted("stopping")
                self._cond.wait(0.5)  # woken by release/stop; the timeout is only a safety net
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            return self.epoch

    def wake_all(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def release(self) -> None:
        with self._cond:
            self.in_flight -= 1
            self._cond.notify()  # one slot freed: wake one waiter, not the whole herd

    def on_success(self) -> None:
        with self._cond:
            if self.limit >= self.maximum:
                return
            self._successes += 1
            window = self._increase_after or self.limit
            if self._successes >= window:
                self.limit += 1
                self._successes = 0
                self._emit("concurrency", limit=self.limit, reason=f"+1 after {window} consecutive successes")
                self._cond.notify_all()

    def on_rate_limit(self, dispatch_epoch: int, why: str) -> None:
        with self._cond:
            self._successes = 0
            if dispatch_epoch < self.epoch:
                return  # this call was dispatched before the last decrease: already counted
            self.epoch += 1
            new = max(1, self.limit // 2)
            if new != self.limit:
                self.limit = new
                self._emit("concurrency", limit=self.limit, reason=f"halved: {why}")


@dataclass
class FailedCall:
    key: str
    label: str | None
    error: str
    tokens: int = 0  # what the failed call used anyway (charged to the budget)
    cost_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label, "error": self.error, "tokens": self.tokens,
                "cost_usd": self.cost_usd}


@dataclass
class _Spend:
    """Tokens and dollars a call's failed attempts used."""

    usage: Usage = field(default_factory=Usage)
    usd: float = 0.0

    def add(self, usage: Usage, usd: float) -> None:
        self.usage = self.usage + usage
        self.usd += usd


@dataclass
class RunStats:
    calls: int = 0  # agent() calls made by the script (paid, replayed or refused)
    paid_calls: int = 0  # calls sent to the provider: what the call cap counts
    calls_done: int = 0
    calls_replayed: int = 0
    calls_failed: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0


class Scheduler:
    def __init__(
        self,
        *,
        provider: Provider,
        journal: Journal | None,
        ledger: BudgetLedger,
        emit: Emit,
        run_id: str,
        workspace: str,
        max_concurrency: int = 16,
        max_calls: int = 1000,
        call_timeout_s: float = 120.0,
        max_attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        increase_after: int | None = None,
        batch: bool = False,
        validate_schema: bool = True,
        leases: Any = None,
        pace: bool = True,
    ):
        self.provider = provider
        self.journal = journal
        self.ledger = ledger
        self.emit = emit
        self.run_id = run_id
        self.workspace = workspace
        self.max_calls = max_calls
        # Batch mode: a call may wait hours for its batch; cancel still stops it at once.
        self.call_timeout_s = max(call_timeout_s, BATCH_CALL_TIMEOUT_S) if batch else call_timeout_s
        self.max_attempts = max(1, max_attempts)
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.batch = batch
        self.validate_schema = validate_schema
        self.leases = leases  # store.leases.CallLeases: in-flight calls shared across processes
        self.limiter = ConcurrencyLimiter(max_concurrency, emit, increase_after=increase_after)
        self.stats = RunStats()
        self.failures: list[FailedCall] = []
        self.stop_event = threading.Event()
        self.stop_reason = ""
        self.phase = ""
        self._lock = threading.Lock()
        self._inflight: dict[str, Future] = {}
        self._call_events: set[threading.Event] = set()
        self._warm: dict[str, str] = {}  # context hash -> "warming" | "warm"
        self._warm_cond = threading.Condition()
        self._spend_stopped: str | None = None
        # Set once the budget or the call cap is reached: dispatch stops (an outcome).
        self.limit_reached: str | None = None
        self.calls_not_made = 0  # agent() calls refused after limit_reached
        self.max_replays = max(MAX_REPLAYS_FACTOR * max_calls, 1000)
        self._occurrences: dict[str, int] = {}
        self._replays = 0
        # Journal keys whose paid call_finished is already in this run's log (set by the
        # driver on resume); a replayed answer of this run not among them is charged.
        self.counted_keys: set[str] | None = None
        # Paces dispatch from the providers' rate-limit headers. Not in batch mode: a batch
        # is not answered under the per-minute limits, and its first answer may take hours.
        self.pacer: Pacer | None = Pacer() if pace and not batch else None
        self._last_progress = 0.0
        self.last_activity = time.monotonic()
        self.on_call_finished: Callable[[str], None] = lambda key: None  # provenance hook
        # Provider calls run on pooled threads (cheaper than a thread per call); the pool is
        # larger than the concurrency limit so calls abandoned after a timeout don't starve it.
        # Batch mode calls the provider on the caller's thread instead (see _call_inline).
        self._pool = ThreadPoolExecutor(max_workers=2 * self.limiter.maximum + 4, thread_name_prefix="refute-call")

    # --- control -----------------------------------------------------------------------

    def stop(self, reason: str) -> None:
        """Refuse new calls (pause/cancel). On cancel, also tell in-flight calls to stop."""
        self.stop_reason = reason
        self.stop_event.set()
        if reason == "cancel":
            with self._lock:
                for event in self._call_events:
                    event.set()
        with self._warm_cond:
            self._warm_cond.notify_all()
        self.limiter.wake_all()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.limiter.in_flight == 0:
                return True
            time.sleep(0.02)
        return self.limiter.in_flight == 0

    # --- the call path -----------------------------------------------------------------

    def call(self, request: CallRequest) -> CallResult:
        if self.stop_event.is_set():
            raise RunInterrupted(self.stop_reason)
        base_key = request.key()
        with self._lock:
            self.stats.calls += 1
            occurrence = self._occurrences.get(base_key, 0)
            self._occurrences[base_key] = occurrence + 1
        key = occurrence_key(base_key, occurrence)
        self.last_activity = time.monotonic()
        if self.journal is not None:
            stored = self.journal.get(key, workspace=self.workspace)
            if stored is not None:
                return self._replayed(key, request, stored)
        self._count_paid(key, request)
        with self._lock:
            shared = self._inflight.get(key)
            if shared is None:
                mine: Future = Future()
                self._inflight[key] = mine
        if shared is not None:
            return self._join(shared)  # asked once, answered twice: one paid call
        try:
            result = self._run_leased(key, request)
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        else:
            mine.set_result(result)
            return result
        finally:
            with self._lock:
                self._inflight.pop(key, None)

    def _run_leased(self, key: str, request: CallRequest) -> CallResult:
        """Pay for the call only while holding its lease; while another live process holds
        it, wait for its result in the journal and replay that (zero cost). A holder that
        fails or dies leaves the key free again, and this process claims it."""
        if self.leases is None or self.journal is None:
            return self._run_new(key, request)
        pause = 0.05
        while True:
            if self.leases.claim(key):
                try:
                    stored = self.journal.get(key, workspace=self.workspace)  # finished between our miss and our claim
                    if stored is not None:
                        return self._replayed(key, request, stored)
                    return self._run_new(key, request)
                finally:
                    self.leases.release(key)
            while self.leases.held_elsewhere(key):
                if self.stop_event.is_set():
                    raise RunInterrupted(self.stop_reason)
                self.last_activity = time.monotonic()  # waiting on another run is not a stall
                time.sleep(pause)
                pause = min(pause * 1.5, 0.5)
            stored = self.journal.get(key, workspace=self.workspace)
            if stored is not None:
                return self._replayed(key, request, stored)

    def _count_paid(self, key: str, request: CallRequest) -> None:
        """The call cap counts calls that will be paid; reaching it ends dispatch."""
        if self.limit_reached:
            self._refuse(key, request)
        with self._lock:
            over = self.stats.paid_calls >= self.max_calls
            if not over:
                self.stats.paid_calls += 1
        if over:
            self._reach_limit(f"call cap reached: a run may make at most {self.max_calls:,} paid agent calls "
                              "(replayed calls do not count); resume the run to continue")
            self._refuse(key, request)

    def _reach_limit(self, why: str) -> None:
        with self._lock:
            first = self.limit_reached is None
            if first:
                self.limit_reached = why
        if first:
            self.emit("log", message=f"{why}: no new calls are dispatched; calls in flight finish")

    def _refuse(self, key: str, request: CallRequest) -> None:
        with self._lock:
            self.calls_not_made += 1
        why = self.limit_reached or "limit reached"
        kind = "call_limit" if why.startswith("call cap") else "budget"
        cls = CallLimitExceeded if kind == "call_limit" else BudgetExceeded
        raise cls(f"agent call {request.label or key[:12]} not made: {why}", key=key, label=request.label, kind=kind)


    def _join(self, shared: Future) -> CallResult:
        while True:
            try:
                return shared.result(timeout=0.1)
            except TimeoutError:
                if self.stop_event.is_set():
                    raise RunInterrupted(self.stop_reason) from None

    def _replayed(self, key: str, request: CallRequest, stored: CallResult) -> CallResult:
        with self._lock:
            self._replays += 1
            replays = self._replays
        if replays > self.max_replays:
            message = (f"replay guard: more than {self.max_replays:,} replayed calls in one run; "
                       "the script looks like it loops (replays are free, but not endless)")
            self._record_failure(key, request.label, message)
            raise CallLimitExceeded(message, key=key, label=request.label, kind="call_limit")
        original_usage, original_cost = stored.usage, stored.cost_usd
        recovered = (self.counted_keys is not None and stored.run_id == self.run_id
                     and key not in self.counted_keys)
        stored.replayed = True
        if recovered:
            # Paid by this run, but its call_finished was lost (killed after the journal
            # write): charge it now, once.
            self.counted_keys.add(key)
            self.ledger.charge(original_usage.total_tokens, original_cost)
            with self._lock:
                self.stats.calls_done += 1
                self.stats.usage = self.stats.usage + original_usage
                self.stats.cost_usd += original_cost
            self.emit("call_finished", key=key, label=request.label, model=stored.model, provider=stored.provider,
                      usage=original_usage.to_dict(), cost_usd=original_cost, latency_s=0.0, replayed=False,
                      recovered=True, outcome="recovered", estimated_usage=stored.estimated_usage)
        else:
            with self._lock:
                self.stats.calls_done += 1
                self.stats.calls_replayed += 1
            self.emit("call_finished", key=key, label=request.label, model=stored.model, provider=stored.provider,
                      usage=Usage().to_dict(), cost_usd=0.0, latency_s=0.0, replayed=True, outcome="replayed",
                      original_usage=original_usage.to_dict(), original_cost_usd=original_cost)
        stored.cost_usd = 0.0
        self.on_call_finished(key)
        self._progress()
        return stored

    def _run_new(self, key: str, request: CallRequest) -> CallResult:
        if self._spend_stopped:
            self._record_failure(key, request.label, self._spend_stopped)
            raise AgentError(self._spend_stopped, key=key, label=request.label, kind="spend_limit")
        context_id = self._warm_up_enter(request)
        ok = False
        try:
            result = self._dispatch(key, request)
            ok = True
            return result
        finally:
            self._warm_up_exit(context_id, ok)

    # prompt-cache warm-up ----------------------------------------------------------------

    def _warm_up_enter(self, request: CallRequest) -> str | None:
        # Batch mode skips the warm-up: waiting for one call's batch before the others are
        # even queued would double a run's wall time (hours) to save some input tokens.
        if not request.context or self.batch:
            return None
        from refute.analysis.tokens import estimate_tokens
        from refute.orchestration.calls.prompt_cache import cacheable

        if not cacheable(request.model, estimate_tokens(request.system or "") + estimate_tokens(request.context)):
            return None  # too short to be cached: holding the fan-out back would gain nothing
        context_id = str(hash((request.model, request.system, request.context)))
        with self._warm_cond:
            while True:
                state = self._warm.get(context_id)
                if state is None:
                    self._warm[context_id] = "warming"
                    return context_id  # this call writes the cache
                if state == "warm":
                    return None
                if self.stop_event.is_set():
                    raise RunInterrupted(self.stop_reason)
                self._warm_cond.wait(0.5)

    def _warm_up_exit(self, context_id: str | None, ok: bool) -> None:
        if context_id is None:
            return
        with self._warm_cond:
            if ok:
                self._warm[context_id] = "warm"
            else:
                self._warm.pop(context_id, None)  # let the next waiter try to warm it
            self._warm_cond.notify_all()

    # dispatch with retries -----------------------------------------------------------------

    def _dispatch(self, key: str, request: CallRequest) -> CallResult:
        label = request.label
        started = False
        attempt = 0
        wasted = _Spend()  # what failed attempts of this call actually cost
        while True:
            attempt += 1
            epoch = self.limiter.acquire(self.stop_event)
            reservation = paced = None
            try:  # the slot is held until the reservation is settled or released
                reservation, sized = self._reserve(key, request, wasted)
                paced = self._pace(sized)
                if not started:
                    started = True
                    self.emit("call_started", key=key, label=label, model=request.model)
                t0 = time.monotonic()
                result = self._call_with_timeout(sized, epoch, reservation, paced)
                latency = time.monotonic() - t0
                exc = result if isinstance(result, BaseException) else self._check_output(sized, result)
                if exc is None:
                    if paced is not None:
                        u = result.usage
                        self.pacer.observe(u.input_tokens + u.cache_write_tokens + u.cache_read_tokens,
                                           u.output_tokens, paced)
                    return self._finish(key, request, result, reservation, latency, wasted)
                if not isinstance(result, BaseException):
                    # The answer was paid for even though it is unusable.
                    exc.usage = getattr(result, "usage", None)  # type: ignore[attr-defined]
                    exc.cost_usd = getattr(result, "cost_usd", None) or None  # type: ignore[attr-defined]
                if paced is not None and isinstance(exc, RateLimited):
                    self.pacer.refund(paced)
                self._settle_failed_attempt(sized, exc, reservation, wasted)
            finally:
                if reservation is not None and not reservation.settled:
                    self.ledger.release(reservation)
                if paced is not None:
                    self.pacer.finished(paced)
                self.limiter.release()
            if isinstance(exc, RunInterrupted):
                raise exc
            if isinstance(exc, SpendLimitReached):
                self._spend_stopped = f"spend limit reached: {scrub(str(exc))} (no further calls in this run)"
                self.emit("log", message=self._spend_stopped)
                raise self._fail(key, label, self._spend_stopped, "spend_limit", wasted)
            if getattr(exc, "lowers_concurrency", False):  # 429 and 529 only, never 500s or resets
                self.limiter.on_rate_limit(epoch, type(exc).__name__)
            retryable = isinstance(exc, ProviderError) and exc.retryable
            if not retryable or attempt >= self.max_attempts:
                suffix = f" (after {attempt} attempts)" if retryable else ""
                raise self._fail(key, label, f"{type(exc).__name__}: {scrub(str(exc))}{suffix}",
                                 type(exc).__name__, wasted)
            delay = self._backoff(attempt, getattr(exc, "retry_after", None))
            if self.stop_event.wait(delay):
                raise RunInterrupted(self.stop_reason)

    def _on_headers(self, headers: Any, debit: Debit | None = None) -> None:
        if self.pacer is not None:
            self.pacer.report(headers, since=debit)

    def _pace(self, request: CallRequest) -> Debit | None:
        """Wait until the rate-limit buckets the provider reported have room for this call
        (before a first report it only counts); returns what was debited, or None when
        there is no pacer or the provider cannot estimate its input."""
        estimate = getattr(self.provider, "input_estimate", None)
        if self.pacer is None or not callable(estimate):
            return None
        debit = self.pacer.acquire(int(estimate(request)), request.max_tokens, self.stop_event)
        if debit is None:
            raise RunInterrupted(self.stop_reason)
        return debit

    def _reserve(self, key: str, request: CallRequest, wasted: "_Spend") -> tuple[Any, CallRequest]:
        """Reserve the call in the budget (budget.BudgetLedger.reserve_sized); returns the
        reservation and the request to send (its max_tokens lowered when only that fits).
        Reaching the budget stops dispatch for the rest of the run."""
        full = self.provider.worst_case(request)
        floor = min(request.max_tokens, MIN_OUTPUT_TOKENS)

        def floor_cost() -> tuple[int, float]:  # only asked for when the full cost does not fit
            return self.provider.worst_case(replace(request, max_tokens=floor)) if floor < request.max_tokens else full

        try:
            reservation, fraction = self.ledger.reserve_sized(
                floor_cost, full, label=request.label, stop=self.stop_event,
                stopped=lambda: self.limit_reached is not None)
        except BudgetExceeded as exc:
            exc.key = key
            if not self.stop_event.is_set():
                self._reach_limit(f"budget reached: {exc}")
            with self._lock:
                self.calls_not_made += 1
            raise
        if reservation is None:  # stopped while waiting
            if self.limit_reached:
                self._refuse(key, request)
            raise RunInterrupted(self.stop_reason)
        if fraction >= 1.0:
            return reservation, request
        sized_max = floor + int((request.max_tokens - floor) * fraction)
        self.emit("log", message=f"call {request.label or key[:12]}: max_tokens lowered from "
                                 f"{request.max_tokens} to {sized_max}: what the budget can still pay")
        return reservation, replace(request, max_tokens=max(sized_max, 1))

    def _settle_failed_attempt(self, request: CallRequest, exc: BaseException, reservation: Any,
                               wasted: "_Spend") -> bool:
        """Charge the budget for tokens a failed attempt really used (a truncated, refused or
        invalid answer was still generated and billed). `exc.usage` / `exc.cost_usd` are set
        by the provider (or above, for answers the scheduler rejects). True when the
        reservation was settled."""
        usage = getattr(exc, "usage", None)
        if not isinstance(usage, Usage) or usage.total_tokens <= 0 or reservation is None:
            return False
        usd = getattr(exc, "cost_usd", None)
        if not isinstance(usd, (int, float)) or isinstance(usd, bool):
            try:
                usd = pricing.cost(request.model, usage, batch=self.batch)
            except Exception:  # unknown model: the reservation's USD is the honest upper bound
                usd = reservation.usd
        usd = float(usd)
        within = self.ledger.settle(reservation, usage.total_tokens, usd)
        reservation.settled = True
        if not within:
            self.emit("log", message=f"call {request.label or request.key()[:12]} used more than its reserved "
                                     "worst case before it failed")
        wasted.add(usage, usd)
        with self._lock:
            self.stats.usage = self.stats.usage + usage
            self.stats.cost_usd += usd
        return True

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None and retry_after >= 0:
            return float(retry_after)
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * (2 ** (attempt - 1)))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": spread, never zero

    def _call_with_timeout(self, request: CallRequest, epoch: int, reservation: Any = None,
                           debit: Debit | None = None) -> CallResult | BaseException:
        call_cancelled = _Deadline(self.call_timeout_s) if self.batch else threading.Event()
        if self.stop_reason == "cancel":
            call_cancelled.set()
        box: dict[str, Any] = {}
        done = threading.Event()

        def on_rate_limit(retry_after: float | None) -> None:
            self.limiter.on_rate_limit(epoch, "provider signalled rate limiting")

        ctx = CallContext(cancelled=call_cancelled, timeout_s=self.call_timeout_s, workspace=self.workspace,
                          on_rate_limit=on_rate_limit, on_headers=lambda headers: self._on_headers(headers, debit),
                          extend_reservation=None if reservation is None else
                          (lambda tokens, usd: self.ledger.extend(reservation, tokens, usd)))
        if isinstance(call_cancelled, _Deadline):
            return self._call_inline(request, ctx, call_cancelled)

        def target() -> None:
            try:
                box["result"] = self.provider.call(request, ctx)
            except BaseException as exc:  # delivered to the waiting thread
                box["error"] = exc
            finally:
                done.set()

        with self._lock:
            self._call_events.add(call_cancelled)
        try:
            self._pool.submit(target)
            deadline = time.monotonic() + self.call_timeout_s
            while not done.wait(0.2):
                if self.stop_reason == "cancel":
                    call_cancelled.set()
                    return RunInterrupted("cancel")
                if time.monotonic() > deadline:
                    call_cancelled.set()  # tell the provider to give up
                    return CallTimeout(f"no answer within {self.call_timeout_s:g} s")
        finally:
            with self._lock:
                self._call_events.discard(call_cancelled)
        if "error" in box:
            return box["error"]
        return box["result"]

    def _call_inline(self, request: CallRequest, ctx: CallContext, flag: _Deadline) -> CallResult | BaseException:
        """Batch mode: the calling thread waits on the provider itself. Up to
        batch_max_requests calls may wait on a batch at once, and a second (pool) thread per
        call would double the threads, each reserving its stack in the worker's limited
        address space. Cancel and the deadline reach the provider through `ctx.cancelled`."""
        with self._lock:
            self._call_events.add(flag)
        try:
            result: CallResult | BaseException = self.provider.call(request, ctx)
        except BaseException as exc:  # delivered like the pooled path's errors
            result = exc
        finally:
            with self._lock:
                self._call_events.discard(flag)
        if isinstance(result, BaseException):  # an answer that did arrive is kept, cancel or not
            if self.stop_reason == "cancel":
                return RunInterrupted("cancel")
            if flag.expired():
                return CallTimeout(f"no answer within {self.call_timeout_s:g} s")
        return result

    def _check_output(self, request: CallRequest, result: CallResult) -> BaseException | None:
        if not isinstance(result, CallResult):
            return ProviderError(f"provider returned {type(result).__name__}, not a CallResult")
        if request.schema and self.validate_schema:
            data = result.data
            if data is None:
                import json

                try:
                    data = json.loads(result.text)
                except (ValueError, TypeError):
                    from refute.orchestration.providers.base import InvalidOutput

                    return InvalidOutput("the answer is not JSON although a schema was given")
                result.data = data
            problems = validate(data, request.schema)
            if problems:
                from refute.orchestration.providers.base import InvalidOutput

                return InvalidOutput("the answer does not match the schema: " + "; ".join(problems[:5]))
        return None

    def _finish(self, key: str, request: CallRequest, result: CallResult, reservation: Any, latency: float,
                wasted: "_Spend | None" = None) -> CallResult:
        if not result.model:
            result.model = request.model
        if not result.cost_usd and result.usage.total_tokens:
            result.cost_usd = pricing.cost(result.model, result.usage, batch=self.batch)
        if not result.latency_s:
            result.latency_s = latency
        if self.journal is not None:
            self.journal.record(request, result, run_id=self.run_id, key=key)  # durable before use
        within = self.ledger.settle(reservation, result.usage.total_tokens, result.cost_usd)
        reservation.settled = True
        if not within:
            self.emit("log", message=f"call {request.label or key[:12]} used more than its reserved worst case")
        self.limiter.on_success()
        with self._lock:
            self.stats.calls_done += 1
            self.stats.usage = self.stats.usage + result.usage
            self.stats.cost_usd += result.cost_usd
        self.last_activity = time.monotonic()
        # The event's usage/cost is what this call cost in all: earlier failed attempts that
        # used tokens (already counted in the ledger and stats) are added, and named.
        extra: dict[str, Any] = {}
        usage, cost = result.usage, result.cost_usd
        if wasted is not None and wasted.usage.total_tokens:
            usage, cost = usage + wasted.usage, cost + wasted.usd
            extra = {"failed_attempts_usage": wasted.usage.to_dict(), "failed_attempts_cost_usd": wasted.usd}
        if result.reads:  # files its tools read and sent (paths only: the audit record lists them)
            extra["reads"] = sorted(result.reads)
        self.emit("call_finished", key=key, label=request.label, model=result.model, provider=result.provider,
                  usage=usage.to_dict(), cost_usd=cost, latency_s=round(result.latency_s, 4),
                  replayed=False, outcome="ok", estimated_usage=result.estimated_usage, **extra)
        self.on_call_finished(key)
        self._progress()
        return result

    def _fail(self, key: str, label: str | None, message: str, kind: str, wasted: "_Spend | None" = None) -> AgentError:
        self._record_failure(key, label, message, wasted)
        return AgentError(f"agent call {label or key[:12]} failed: {message}", key=key, label=label, kind=kind)

    def _record_failure(self, key: str, label: str | None, message: str, wasted: "_Spend | None" = None) -> None:
        spent = wasted or _Spend()
        with self._lock:
            self.stats.calls_failed += 1
            self.failures.append(FailedCall(key, label, message, spent.usage.total_tokens, round(spent.usd, 6)))
        self.last_activity = time.monotonic()
        # usage/cost_usd: tokens the failed call really used (billed, and charged to the budget).
        self.emit("call_failed", key=key, label=label, error=message, usage=spent.usage.to_dict(),
                  cost_usd=round(spent.usd, 8))
        self._progress(force=True)

    def _progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_progress < 0.25:
            return
        self._last_progress = now
        self.emit_progress()

    def emit_progress(self) -> None:
        with self._lock:
            stats = self.stats
            self.emit("progress", calls_done=stats.calls_done, in_flight=self.limiter.in_flight,
                      calls_failed=stats.calls_failed, calls_replayed=stats.calls_replayed,
                      tokens=stats.usage.total_tokens, cost_usd=round(stats.cost_usd, 6), phase=self.phase,
                      concurrency=self.limiter.limit)
