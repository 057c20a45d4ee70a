"""Scheduler guarantees: hard budgets, concurrency limit, call limit, retries, AIMD,
warm-up, replay, no pipeline barrier."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from refute.orchestration.calls.budget import BudgetLedger
from refute.orchestration.errors import AgentError, BudgetExceeded
from refute.orchestration.model import Budget, CallRequest, Usage
from refute.orchestration.providers.base import CallTimeout, Overloaded, RateLimited, SpendLimitReached
from refute.orchestration.calls.scheduler import Scheduler
from refute.orchestration.settings import EngineSettings

from orch_helpers import InstrumentedProvider, driver, script


class CheckedLedger(BudgetLedger):
    """Records the highest committed amount (spent + reserved) ever seen."""

    def __init__(self, budget: Budget):
        super().__init__(budget)
        self.peak_tokens = 0
        self.peak_usd = 0.0

    def _take(self, tokens, usd):  # every reservation path ends here (lock held)
        r = super()._take(tokens, usd)
        self.peak_tokens = max(self.peak_tokens, self.spent_tokens + self.reserved_tokens)
        self.peak_usd = max(self.peak_usd, self.spent_usd + self.reserved_usd)
        return r

    def settle(self, reservation, tokens, usd):
        ok = super().settle(reservation, tokens, usd)
        self._note()
        return ok

    def _note(self):
        with self._lock:
            self.peak_tokens = max(self.peak_tokens, self.spent_tokens + self.reserved_tokens)
            self.peak_usd = max(self.peak_usd, self.spent_usd + self.reserved_usd)


def make_scheduler(provider, ledger=None, **kw) -> Scheduler:
    events: list = []
    kw.setdefault("max_concurrency", 8)
    return Scheduler(provider=provider, journal=None, ledger=ledger or BudgetLedger(), run_id="r",
                     emit=lambda t, **f: events.append({"type": t, **f}), workspace=".", **kw)


calls_strategy = st.lists(
    st.tuples(st.integers(1, 5000), st.integers(0, 5000), st.integers(1, 4000)),  # input, output, max_tokens
    min_size=1, max_size=40,
)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls=calls_strategy, budget_tokens=st.integers(0, 60_000), budget_usd=st.floats(0.0, 0.5))
def test_spending_never_exceeds_a_hard_budget(calls, budget_tokens, budget_usd):
    price_in, price_out = 3e-6, 15e-6  # $ per token

    def sizes(req):
        inp, out, _ = map(int, req.options["size"])
        return inp, min(out, req.max_tokens)

    provider = InstrumentedProvider(
        usage=lambda req: Usage(input_tokens=sizes(req)[0], output_tokens=sizes(req)[1]),
        worst=lambda req: (int(req.options["size"][0]) + req.max_tokens,
                           int(req.options["size"][0]) * price_in + req.max_tokens * price_out),
    )
    ledger = CheckedLedger(Budget(tokens=budget_tokens, usd=budget_usd))
    scheduler = make_scheduler(provider, ledger)
    # the scheduler prices results itself when the provider leaves cost at 0: make it agree
    import refute.orchestration.calls.scheduler as sched_mod
    original = sched_mod.pricing.cost
    sched_mod.pricing.cost = lambda model, usage, batch=False: usage.input_tokens * price_in + usage.output_tokens * price_out
    try:
        def one(i_call):
            i, (inp, out, max_tokens) = i_call
            req = CallRequest(prompt=f"call {i}", model="claude-sonnet-4-5", max_tokens=max_tokens,
                              options={"size": [inp, out, max_tokens]})
            try:
                scheduler.call(req)
                return "ok"
            except BudgetExceeded:
                return "refused"

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(one, enumerate(calls)))
    finally:
        sched_mod.pricing.cost = original
    assert ledger.peak_tokens <= budget_tokens
    assert ledger.peak_usd <= budget_usd + 1e-9
    assert ledger.spent_tokens <= budget_tokens
    assert ledger.spent_usd <= budget_usd + 1e-9
    assert ledger.reserved_tokens == 0
    assert outcomes.count("ok") == len(provider.calls)  # refused calls never reached the provider


def test_budget_exceeded_reaches_the_script_with_a_clear_error(tmp_path):
    provider = InstrumentedProvider(worst=lambda req: (5000, 0.0),
                                    usage=lambda req: Usage(input_tokens=1500, output_tokens=500))
    d = driver(tmp_path, script("    agent('first')\n    agent('second')"), provider, budget=Budget(tokens=6000))
    outcome = d.execute()
    # Reaching the budget is an outcome, not a failure: resumable with a larger budget.
    assert outcome.status == "budget_reached"
    assert "token budget of 6,000 reached" in outcome.error and "refute resume" in outcome.error
    assert len(provider.calls) == 1


def test_concurrency_never_exceeds_the_limit(tmp_path):
    provider = InstrumentedProvider(latency=0.02)
    body = "    return parallel([lambda i=i: agent('q %d' % i) for i in range(60)])"
    d = driver(tmp_path, script(body), provider, max_concurrency=5)
    assert d.execute().status == "completed"
    assert provider.peak == 5  # reached, never exceeded
    assert len(provider.calls) == 60


def test_concurrency_setting_cannot_exceed_sixteen(tmp_path):
    provider = InstrumentedProvider(latency=0.03)
    body = "    return parallel([lambda i=i: agent('q %d' % i) for i in range(80)])"
    settings = EngineSettings(provider="scripted", max_concurrency=64)
    assert settings.max_concurrency == 16
    d = driver(tmp_path, script(body), provider, settings=settings)
    assert d.execute().status == "completed"
    assert provider.peak == 16


def test_the_1001st_paid_call_is_not_made(tmp_path):
    provider = InstrumentedProvider()
    body = "    n = 0\n    for i in range(1001):\n        agent('call %d' % i)\n        n += 1\n    return n"
    d = driver(tmp_path, script(body), provider)
    outcome = d.execute()
    assert outcome.status == "budget_reached"
    assert "at most 1,000 paid agent calls" in outcome.error and "1 call(s) not made" in outcome.error
    assert len(provider.calls) == 1000


def test_pipeline_has_no_barrier_between_stages(tmp_path):
    def latency(req):
        return 1.0 if req.prompt == "one 0" else 0.05

    provider = InstrumentedProvider(latency=latency, answer=lambda req: req.prompt)
    body = ("    return pipeline(range(5), lambda i: agent('one %d' % i, label='one %d' % i),\n"
            "                    lambda t: agent('two ' + t, label='two ' + t))")
    d = driver(tmp_path, script(body), provider)
    t0 = time.monotonic()
    outcome = d.execute()
    assert outcome.status == "completed"
    assert outcome.result == ["two one %d" % i for i in range(5)]
    starts = dict(provider.starts)
    slow_done = starts["one 0"] + 1.0
    for i in range(1, 5):
        assert starts[f"two one {i}"] < slow_done - 0.5  # the fast items went on without waiting
    assert time.monotonic() - t0 < 1.6


def test_rate_limits_halve_concurrency_and_retry_after_is_honoured():
    failures = {"n": 0}
    lock = threading.Lock()

    def answer(req):
        with lock:
            if failures["n"] < 1:
                failures["n"] += 1
                return RateLimited("429", retry_after=0.3)
        return "ok"

    provider = InstrumentedProvider(answer=answer)
    events: list = []
    scheduler = Scheduler(provider=provider, journal=None, ledger=BudgetLedger(), run_id="r", workspace=".",
                          emit=lambda t, **f: events.append({"type": t, **f}), max_concurrency=8, increase_after=2)
    t0 = time.monotonic()
    assert scheduler.call(CallRequest(prompt="a", model="claude-haiku-4-5")).text == "ok"
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.3  # waited retry-after before the second attempt
    assert [e["limit"] for e in events if e["type"] == "concurrency"] == [4]
    for i in range(8):  # consecutive successes add one slot per window
        scheduler.call(CallRequest(prompt=f"b{i}", model="claude-haiku-4-5"))
    limits = [e["limit"] for e in events if e["type"] == "concurrency"]
    assert limits[:3] == [4, 5, 6] and max(limits) <= 8
    assert any("halved" in e["reason"] for e in events if e["type"] == "concurrency")


def test_simultaneous_rate_limits_halve_once_per_window():
    barrier = threading.Barrier(8)

    def answer(req):
        if req.prompt.startswith("burst") and not req.options.get("retried"):
            barrier.wait(timeout=5)
            req.options["retried"] = True
            return Overloaded("529")
        return "ok"

    provider = InstrumentedProvider(answer=answer)
    events: list = []
    scheduler = Scheduler(provider=provider, journal=None, ledger=BudgetLedger(), run_id="r", workspace=".",
                          emit=lambda t, **f: events.append({"type": t, **f}), max_concurrency=8,
                          backoff_base_s=0.01)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: scheduler.call(CallRequest(prompt=f"burst {i}", model="claude-haiku-4-5")), range(8)))
    halvings = [e for e in events if e["type"] == "concurrency" and "halved" in e["reason"]]
    assert len(halvings) == 1 and halvings[0]["limit"] == 4


def test_spend_limit_is_never_retried_and_stops_later_calls(tmp_path):
    provider = InstrumentedProvider(answer=lambda req: SpendLimitReached("your spend limit") if req.prompt == "a" else "ok")
    body = "    x = agent('a', default='none')\n    y = agent('b', default='none')\n    return [x, y]"
    d = driver(tmp_path, script(body), provider)
    outcome = d.execute()
    assert [r.prompt for r in provider.calls] == ["a"]  # once, and 'b' never sent
    assert outcome.status == "failed"  # spend limit always raises, even with default=
    assert "spend limit" in outcome.error


def test_per_call_timeout(tmp_path):
    provider = InstrumentedProvider(latency=5.0)
    scheduler = make_scheduler(provider, call_timeout_s=0.2, max_attempts=2, backoff_base_s=0.01)
    t0 = time.monotonic()
    with pytest.raises(AgentError) as info:
        scheduler.call(CallRequest(prompt="slow", model="claude-haiku-4-5", label="slow one"))
    assert time.monotonic() - t0 < 1.5
    assert "CallTimeout" in str(info.value) and "after 2 attempts" in str(info.value)
    assert len(provider.calls) == 2
    assert scheduler.failures[0].label == "slow one"


def start_times_of_six_calls_sharing(tmp_path, context: str) -> list[float]:
    provider = InstrumentedProvider(latency=0.2)
    body = f"    return parallel([lambda i=i: agent('q %d' % i, context={context}) for i in range(6)])"
    d = driver(tmp_path, script(body), provider)
    assert d.execute().status == "completed"
    return sorted(t for _, t in provider.starts)


def test_calls_sharing_a_context_wait_for_the_first_to_warm_the_cache(tmp_path):
    # 'SHARED PREFIX ' x 2000 is above claude-sonnet-5-5's minimum cacheable prefix (1,024 tokens).
    times = start_times_of_six_calls_sharing(tmp_path, "'SHARED PREFIX ' * 2000")
    assert all(t >= times[0] + 0.19 for t in times[1:])  # one went first, alone
    assert times[-1] - times[1] < 0.1  # then the rest together


def test_a_prefix_too_short_to_cache_does_not_hold_the_fan_out_back(tmp_path):
    times = start_times_of_six_calls_sharing(tmp_path, "'SHORT PREFIX'")
    assert times[-1] - times[0] < 0.15  # all together: no warm-up for a prefix that cannot be cached


def test_replay_costs_nothing_and_never_reaches_the_provider(tmp_path):
    provider = InstrumentedProvider(latency=0.01)
    body = "    return parallel([lambda i=i: agent('q %d' % i) for i in range(10)])"
    first = driver(tmp_path, script(body), provider)
    assert first.execute().status == "completed"
    first.close()
    assert len(provider.calls) == 10
    events: list = []
    again = driver(tmp_path, script(body), provider, events=events)
    outcome = again.execute()
    assert outcome.status == "completed" and outcome.result == ["ok"] * 10
    assert len(provider.calls) == 10  # nothing new
    finished = [e for e in events if e["type"] == "call_finished"]
    assert len(finished) == 10 and all(e["replayed"] and e["cost_usd"] == 0 for e in finished)
    assert all(e["usage"]["input_tokens"] == 0 for e in finished)


def test_failed_call_raises_with_the_script_line(tmp_path):
    from refute.orchestration.providers.base import InvalidOutput

    provider = InstrumentedProvider(answer=lambda req: InvalidOutput("garbage"))
    d = driver(tmp_path, script("    x = 1\n    return agent('q', label='the finder')"), provider)
    outcome = d.execute()
    assert outcome.status == "failed"
    assert "line 5" in outcome.error and "AgentError" in outcome.error and "the finder" in outcome.error


def test_default_returns_and_the_run_completes_with_failures(tmp_path):
    from refute.orchestration.providers.base import Refused

    provider = InstrumentedProvider(answer=lambda req: Refused("no") if "bad" in req.prompt else "fine")
    body = "    return [agent('good'), agent('bad', label='bad call', default='fallback')]"
    outcome = driver(tmp_path, script(body), provider).execute()
    assert outcome.result == ["fine", "fallback"]
    assert outcome.status == "completed with failures"
    assert "bad call" in outcome.error and "Refused" in outcome.error


def test_schema_answers_are_validated(tmp_path):
    provider = InstrumentedProvider(answer=lambda req: {"wrong": 1})
    schema = '{"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}'
    outcome = driver(tmp_path, script(f"    return agent('q', schema={schema}, default=None)"), provider).execute()
    assert outcome.status == "completed with failures"
    assert "$: 'ok' is a required property" in outcome.error


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limit=st.integers(1, 16), calls=st.integers(1, 60), rate_limited=st.sets(st.integers(0, 59), max_size=6))
def test_concurrency_never_exceeds_the_limit_even_while_it_adapts(limit, calls, rate_limited):
    seen: set[str] = set()
    lock = threading.Lock()

    def answer(req):
        with lock:
            first_time = req.prompt not in seen
            seen.add(req.prompt)
        if first_time and int(req.prompt.split()[-1]) in rate_limited:
            return RateLimited("429", retry_after=0.0)
        return "ok"

    provider = InstrumentedProvider(answer=answer, latency=0.005)
    events: list = []
    scheduler = Scheduler(provider=provider, journal=None, ledger=BudgetLedger(), run_id="r", workspace=".",
                          emit=lambda t, **f: events.append({"type": t, **f}), max_concurrency=limit,
                          increase_after=2)
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda i: scheduler.call(CallRequest(prompt=f"q {i}", model="claude-haiku-4-5")).text,
                                range(calls)))
    assert results == ["ok"] * calls
    assert provider.peak <= limit
    assert all(1 <= e["limit"] <= limit for e in events if e["type"] == "concurrency")


def test_a_result_is_journaled_before_the_script_can_use_it(tmp_path):
    from refute.orchestration.store.journal import Journal

    class FailingJournal(Journal):
        def record(self, request, result, **kw):
            raise OSError("disk full")

    provider = InstrumentedProvider()
    journal = FailingJournal(tmp_path)
    scheduler = Scheduler(provider=provider, journal=journal, ledger=BudgetLedger(Budget(tokens=10_000)), run_id="r",
                          workspace=".", emit=lambda t, **f: None)
    with pytest.raises(OSError):
        scheduler.call(CallRequest(prompt="q", model="claude-haiku-4-5"))
    assert len(provider.calls) == 1 and scheduler.ledger.reserved_tokens == 0
    journal.close()
    good = Journal(tmp_path)
    scheduler = Scheduler(provider=provider, journal=good, ledger=BudgetLedger(), run_id="r", workspace=".",
                          emit=lambda t, **f: None)
    request = CallRequest(prompt="q", model="claude-haiku-4-5")
    scheduler.call(request)
    assert request.key() in good  # on disk by the time call() returned
    good.close()


def _failed_with_usage(exc_type, usage: Usage, cost_usd):
    exc = exc_type("spent tokens, no usable answer")
    exc.usage = usage
    exc.cost_usd = cost_usd
    return exc


@pytest.mark.parametrize("fault", ["InvalidOutput", "Truncated", "Refused"])
def test_failed_calls_that_used_tokens_are_charged_to_the_budget_and_the_audit_log(fault):
    from refute.orchestration.providers import base

    spent = Usage(input_tokens=700, output_tokens=300)
    provider = InstrumentedProvider(answer=lambda req: _failed_with_usage(getattr(base, fault), spent, 0.25),
                                    worst=lambda req: (2000, 1.0))
    events: list = []
    ledger = BudgetLedger(Budget(tokens=2500, usd=1.2))
    scheduler = Scheduler(provider=provider, journal=None, ledger=ledger, run_id="r", workspace=".",
                          emit=lambda t, **f: events.append({"type": t, **f}))
    with pytest.raises(AgentError) as info:
        scheduler.call(CallRequest(prompt="first", model="claude-haiku-4-5", label="one"))
    assert fault in str(info.value)
    assert (ledger.spent_tokens, ledger.spent_usd, ledger.reserved_tokens) == (1000, 0.25, 0)
    failed = [e for e in events if e["type"] == "call_failed"]
    assert failed[0]["usage"] == spent.to_dict() and failed[0]["cost_usd"] == 0.25
    assert scheduler.failures[0].tokens == 1000 and scheduler.stats.usage.total_tokens == 1000
    # What the failure cost is gone from the budget: a second worst case of 2000 no longer fits.
    with pytest.raises(BudgetExceeded):
        scheduler.call(CallRequest(prompt="second", model="claude-haiku-4-5"))
    assert len(provider.calls) == 1


def test_failed_call_without_a_provider_cost_is_priced_from_its_usage():
    from refute.orchestration.calls import pricing
    from refute.orchestration.providers.base import Truncated

    spent = Usage(input_tokens=10_000, output_tokens=4_000)
    provider = InstrumentedProvider(answer=lambda req: _failed_with_usage(Truncated, spent, None),
                                    worst=lambda req: (50_000, 1.0))
    ledger = BudgetLedger(Budget(usd=5.0))
    scheduler = make_scheduler(provider, ledger)
    with pytest.raises(AgentError):
        scheduler.call(CallRequest(prompt="q", model="claude-haiku-4-5"))
    assert ledger.spent_usd == pytest.approx(pricing.cost("claude-haiku-4-5", spent)) and ledger.spent_usd > 0


def test_an_answer_the_scheduler_rejects_is_still_charged(tmp_path):
    provider = InstrumentedProvider(answer=lambda req: {"wrong": 1},
                                    usage=lambda req: Usage(input_tokens=400, output_tokens=100))
    schema = '{"type": "object", "required": ["ok"], "properties": {"ok": {"type": "boolean"}}}'
    d = driver(tmp_path, script(f"    return agent('q', schema={schema}, default=None)"), provider)
    outcome = d.execute()
    assert outcome.status == "completed with failures"
    assert d.ledger.spent_tokens == 500 and outcome.failures[0]["tokens"] == 500


def test_a_retried_attempt_that_used_tokens_is_counted_with_the_call_that_succeeds():
    from refute.orchestration.providers.base import Overloaded

    attempts = []

    def answer(req):
        attempts.append(req)
        if len(attempts) == 1:
            return _failed_with_usage(Overloaded, Usage(input_tokens=50, output_tokens=25), 0.01)
        return "ok"

    provider = InstrumentedProvider(answer=answer, usage=lambda req: Usage(input_tokens=10, output_tokens=5),
                                    worst=lambda req: (1000, 0.5))
    events: list = []
    ledger = BudgetLedger(Budget(tokens=10_000))
    scheduler = Scheduler(provider=provider, journal=None, ledger=ledger, run_id="r", workspace=".",
                          emit=lambda t, **f: events.append({"type": t, **f}), backoff_base_s=0.001)
    assert scheduler.call(CallRequest(prompt="q", model="claude-haiku-4-5")).text == "ok"
    assert (ledger.spent_tokens, ledger.reserved_tokens) == (90, 0)
    finished = [e for e in events if e["type"] == "call_finished"][0]
    assert sum(finished["usage"].values()) == 90 and finished["failed_attempts_usage"]["input_tokens"] == 50
    from refute.orchestration.calls import pricing

    success_cost = pricing.cost("claude-haiku-4-5", Usage(input_tokens=10, output_tokens=5))
    assert finished["cost_usd"] == pytest.approx(0.01 + success_cost)
    assert ledger.spent_usd == pytest.approx(0.01 + success_cost)
