"""Issue 12: each tester finding about budgets, failures and replay, as a test that failed
on the code before the fix (budget failing at a few percent, overlapping reservations,
budget reached = failure, one failed call failing the run, kill -9 under-counting,
identical calls collapsing, the parallel() counter race, the subset validator, replays
counting toward the cap, 500s cutting concurrency, script errors naming internals)."""

from __future__ import annotations

import sys

import pytest

from refute.orchestration.calls.budget import BudgetLedger
from refute.orchestration.store.journal import Journal
from refute.orchestration.model import Budget, CallRequest, CallResult, Usage
from refute.orchestration.providers.base import Refused
from refute.orchestration.runtime.driver import state_dir_of
from refute.orchestration.settings import EngineSettings

from orch_helpers import InstrumentedProvider, driver, script

FAN_OUT = "    return parallel([lambda i=i: agent('q %d' % i) for i in range({n})])"


class PeakLedger(BudgetLedger):
    """Records the most tokens ever reserved at once and the most ever committed."""

    peak_reserved = 0
    peak_committed = 0

    def _take(self, tokens, usd):
        r = super()._take(tokens, usd)
        self.peak_reserved = max(self.peak_reserved, self.reserved_tokens)
        self.peak_committed = max(self.peak_committed, self.spent_tokens + self.reserved_tokens)
        return r


def sized_provider(latency=0.002):
    # A worst case (input + max_tokens) far above what a call uses, as with a real finder.
    return InstrumentedProvider(latency=latency, usage=lambda req: Usage(input_tokens=500, output_tokens=min(200, req.max_tokens)),
                                worst=lambda req: (500 + req.max_tokens, (500 * 3 + req.max_tokens * 15) / 1e6))


@pytest.mark.parametrize("budget", [Budget(tokens=50_000), Budget(usd=0.5)])
def test_most_of_the_budget_is_spent_before_the_run_stops(tmp_path, budget):
    # Before: each call reserved input + 4,096 and the run failed at the first refusal
    # with 16 in flight, after spending a few percent of the budget.
    provider = sized_provider()
    d = driver(tmp_path, script(FAN_OUT.format(n=400)), provider, budget=budget)
    outcome = d.execute()
    assert outcome.status == "budget_reached", outcome.error
    spent_share = (d.ledger.spent_tokens / budget.tokens) if budget.tokens else (d.ledger.spent_usd / budget.usd)
    assert 0.85 <= spent_share <= 1.0, spent_share


def test_reservations_never_overlap_at_concurrency_one(tmp_path):
    # Before: the slot was released before the reservation was settled, so the next call
    # reserved while the previous reservation still stood (a 200,000 budget failed).
    provider = InstrumentedProvider(usage=lambda req: Usage(input_tokens=900, output_tokens=100),
                                    worst=lambda req: (120_000, 0.0))
    ledger_box = {}
    d = driver(tmp_path, script(FAN_OUT.format(n=30)), provider, budget=Budget(tokens=200_000), max_concurrency=1)
    d.scheduler.ledger = d.ledger = ledger_box["l"] = PeakLedger(Budget(tokens=200_000))
    outcome = d.execute()
    assert outcome.status == "completed", outcome.error
    assert ledger_box["l"].peak_reserved == 120_000 and len(provider.calls) == 30


def test_one_failed_call_fails_its_item_not_the_run(tmp_path):
    provider = InstrumentedProvider(answer=lambda req: Refused("no") if req.prompt == "q 1" else req.prompt)
    d = driver(tmp_path, script(FAN_OUT.format(n=3)), provider)
    outcome = d.execute()
    assert outcome.status == "completed with failures"
    assert outcome.result == ["q 0", None, "q 2"]
    assert outcome.failures[0]["error"].startswith("Refused")


def test_parallel_can_raise_on_request(tmp_path):
    provider = InstrumentedProvider(answer=lambda req: Refused("no") if req.prompt == "q 1" else req.prompt)
    body = ("    try:\n        parallel([lambda i=i: agent('q %d' % i) for i in range(3)], raise_errors=True)\n"
            "    except AgentError as e:\n        return 'raised'\n")
    assert driver(tmp_path, script(body), provider).execute().result == "raised"


def test_identical_calls_are_distinct_samples_and_replay(tmp_path):
    provider = InstrumentedProvider(answer=lambda req: "vote")
    body = "    return parallel([lambda: agent('same question') for _ in range(3)])"
    assert driver(tmp_path, script(body), provider).execute().result == ["vote"] * 3
    assert len(provider.calls) == 3  # before: one call, answered three times
    again = InstrumentedProvider(answer=lambda req: "new")
    d = driver(tmp_path, script(body), again, run_id="run-2")
    assert d.execute().result == ["vote"] * 3 and again.calls == []


def test_script_code_runs_one_thread_at_a_time(tmp_path):
    # Before: parallel() ran script code on threads with no lock: a shared counter lost
    # increments. The read-modify-write below spans many bytecodes on purpose.
    body = ("    box = {'n': 0}\n"
            "    def work():\n"
            "        for _ in range(40000):\n"
            "            v = box['n']\n"
            "            v = v + 1\n"
            "            box['n'] = v\n"
            "        return agent('done')\n"
            "    parallel([work for _ in range(8)])\n"
            "    return box['n']\n")
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a loaded machine does
    try:
        outcome = driver(tmp_path, script(body), InstrumentedProvider()).execute()
    finally:
        sys.setswitchinterval(previous)
    assert outcome.result == 320_000, outcome.error


def test_augmented_assignment_to_items_works(tmp_path):
    body = "    d = {'a': 1}\n    d['a'] += 2\n    xs = [1]\n    xs[0] *= 7\n    return [d['a'], xs[0]]"
    assert driver(tmp_path, script(body), InstrumentedProvider()).execute().result == [3, 7]


def test_misuse_names_the_workflow_function_and_its_signature(tmp_path):
    outcome = driver(tmp_path, script("    return agent('q', {'label': 'x'})"), InstrumentedProvider()).execute()
    assert outcome.status == "failed"
    assert "agent(prompt" in outcome.error and "options are keywords" in outcome.error
    assert "WorkflowAPI" not in outcome.error and "line 4" in outcome.error


def test_the_validator_is_full_json_schema_with_paths(tmp_path):
    schema = {"type": "object", "additionalProperties": False, "required": ["ids"],
              "properties": {"ids": {"type": "array", "maxItems": 2, "items": {"type": "string", "pattern": "^a"}}}}
    provider = InstrumentedProvider(answer=lambda req: {"ids": ["a1", "b2", "a3"], "extra": 1})
    body = f"    return agent('q', schema={schema!r}, default='invalid')"
    outcome = driver(tmp_path, script(body), provider).execute()
    assert outcome.result == "invalid"
    error = outcome.failures[0]["error"]
    assert "'extra' was unexpected" in error and "$.ids" in error


def test_replays_do_not_count_toward_the_call_cap(tmp_path):
    settings = EngineSettings(provider="scripted", max_calls=10)
    first = InstrumentedProvider()
    assert driver(tmp_path, script(FAN_OUT.format(n=10)), first, settings=settings).execute().status == "completed"
    second = InstrumentedProvider()
    d = driver(tmp_path, script(FAN_OUT.format(n=11)), second, settings=settings, run_id="run-2")
    outcome = d.execute()
    assert outcome.status == "completed", outcome.error  # 10 free replays + 1 paid call
    assert len(second.calls) == 1
    view = d.scheduler.stats.paid_calls
    assert view == 1


def test_budget_view_shows_call_capacity(tmp_path):
    body = "    agent('a')\n    return [budget.limit_calls, budget.paid_calls, budget.remaining_calls]"
    settings = EngineSettings(provider="scripted", max_calls=5)
    assert driver(tmp_path, script(body), InstrumentedProvider(), settings=settings).execute().result == [5, 1, 4]


def test_server_errors_and_resets_do_not_cut_concurrency(tmp_path):
    from refute.orchestration.providers.anthropic import ConnectionLost, ServerError

    faults = {"q 1": ServerError("500"), "q 2": ConnectionLost("reset")}
    seen: set = set()

    def answer(req):
        if req.prompt in faults and req.prompt not in seen:
            seen.add(req.prompt)
            return faults[req.prompt]
        return "ok"

    events: list = []
    d = driver(tmp_path, script(FAN_OUT.format(n=8)), InstrumentedProvider(answer=answer), events=events)
    d.scheduler.backoff_base_s = 0.01
    assert d.execute().status == "completed"
    assert d.scheduler.limiter.limit == d.scheduler.limiter.maximum
    assert not [e for e in events if e["type"] == "concurrency"]


def test_a_killed_run_never_under_counts_on_resume(tmp_path):
    # A call paid by this run whose call_finished never reached the log (killed between
    # the journal write and the event) is charged on resume; one that did is free.
    provider = InstrumentedProvider(usage=lambda req: Usage(input_tokens=700, output_tokens=300))
    first = driver(tmp_path, script(FAN_OUT.format(n=4)), provider)
    assert first.execute().status == "completed"
    first.close()
    keys = [k for k in (CallRequest(prompt=f"q {i}", model=EngineSettings().model_for("default")).key()
                        for i in range(4))]
    events: list = []
    resumed = driver(tmp_path, script(FAN_OUT.format(n=4)), InstrumentedProvider(), events=events,
                     counted_keys=set(keys[:3]))  # the 4th call's event was lost
    assert resumed.execute().status == "completed"
    assert resumed.ledger.spent_tokens == 1000
    recovered = [e for e in events if e["type"] == "call_finished" and e.get("recovered")]
    replayed = [e for e in events if e["type"] == "call_finished" and e.get("replayed")]
    assert len(recovered) == 1 and len(replayed) == 3
    assert replayed[0]["original_usage"]["input_tokens"] == 700 and replayed[0]["cost_usd"] == 0.0


def test_answers_whose_read_files_changed_are_not_replayed(tmp_path):
    (tmp_path / "lib.py").write_text("x = 1\n")
    journal = Journal(state_dir_of(tmp_path))
    request = CallRequest(prompt="what is x?", model="claude-haiku-4-5", tools=("read_file",))
    from refute.orchestration.store.journal import file_hash

    result = CallResult(text="1", reads={"lib.py": file_hash(tmp_path / "lib.py")})
    journal.record(request, result, run_id="r1")
    assert journal.get(request.key(), workspace=tmp_path).text == "1"
    (tmp_path / "lib.py").write_text("x = 2\n")
    assert journal.get(request.key(), workspace=tmp_path) is None  # before: the stale "1"
    journal.close()


def test_a_paid_calls_event_names_the_files_its_tools_read(tmp_path):
    """The audit record's paths_sent needs them: call_finished carries `reads` (paths only)."""
    from orch_helpers import InstrumentedProvider

    class Reader(InstrumentedProvider):
        def call(self, request, ctx):
            result = super().call(request, ctx)
            result.reads = {"lib/util.py": "0" * 64}
            return result

    events: list = []
    d = driver(tmp_path, script("    return agent('q')"), Reader(), events=events)
    try:
        assert d.execute().status == "completed"
    finally:
        d.close()
    finished = [e for e in events if e["type"] == "call_finished"]
    assert finished and finished[0]["reads"] == ["lib/util.py"]
