"""Batch mode: calls wait on a Message Batch for hours, so the per-call deadline is long,
cancel still stops them at once, many more may be in flight, and the batch settings reach
the provider in the run's worker process."""

from __future__ import annotations

import argparse
import json
import threading
import time

import pytest

from refute.orchestration.calls.budget import BudgetLedger
from refute.orchestration.engine import Engine, _ActiveRun
from refute.orchestration.errors import AgentError, RunInterrupted
from refute.orchestration.model import Budget, CallRequest, RunInfo, Scope
from refute.orchestration.providers.base import NotConfigured
from refute.orchestration.calls.scheduler import BATCH_CALL_TIMEOUT_S, Scheduler, in_flight_limit
from refute.orchestration.settings import EngineSettings

from orch_helpers import InstrumentedProvider, driver, script


class PollingProvider(InstrumentedProvider):
    """Waits like the batch collector: until an answer arrives or ctx.cancelled reads set."""

    def __init__(self, answer_after_s: float):
        super().__init__()
        self.answer_after_s = answer_after_s
        self.saw_cancel = threading.Event()

    def call(self, request, ctx):
        end = time.monotonic() + self.answer_after_s
        while time.monotonic() < end:
            if ctx.cancelled.is_set():
                self.saw_cancel.set()
                raise RuntimeError("cancelled while waiting for a message batch")
            time.sleep(0.02)
        return super().call(request, ctx)


def _scheduler(provider, *, batch: bool, call_timeout_s: float = 0.2, **kw) -> Scheduler:
    return Scheduler(provider=provider, journal=None, ledger=BudgetLedger(), emit=lambda t, **f: None, run_id="r",
                     workspace=".", call_timeout_s=call_timeout_s, batch=batch, max_attempts=1, **kw)


def test_a_call_waiting_on_a_batch_outlives_call_timeout_s():
    request = CallRequest(prompt="q", model="claude-haiku-4-5")
    with pytest.raises(AgentError, match="CallTimeout"):
        _scheduler(PollingProvider(0.6), batch=False).call(request)
    batch = _scheduler(PollingProvider(0.6), batch=True)
    assert batch.call_timeout_s == BATCH_CALL_TIMEOUT_S
    assert batch.call(request).text == "ok"


def test_the_batch_deadline_still_ends_a_call_that_never_answers():
    provider = PollingProvider(60.0)
    scheduler = _scheduler(provider, batch=True)
    scheduler.call_timeout_s = 0.3  # 24 h in production: shortened to see it fire
    t0 = time.monotonic()
    with pytest.raises(AgentError, match="CallTimeout"):
        scheduler.call(CallRequest(prompt="q", model="claude-haiku-4-5"))
    assert time.monotonic() - t0 < 2 and provider.saw_cancel.is_set()


def test_cancel_stops_a_call_waiting_on_a_batch_at_once():
    provider = PollingProvider(60.0)
    scheduler = _scheduler(provider, batch=True)
    outcome: dict = {}

    def call():
        try:
            scheduler.call(CallRequest(prompt="q", model="claude-haiku-4-5"))
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=call)
    thread.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    scheduler.stop("cancel")
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - t0 < 1.0
    assert isinstance(outcome["error"], RunInterrupted) and provider.saw_cancel.is_set()


def test_in_flight_limit_grows_only_in_batch_mode_and_stays_within_max_calls():
    assert in_flight_limit(EngineSettings()) == 16
    assert in_flight_limit(EngineSettings(batch=True)) == 1000
    assert in_flight_limit(EngineSettings(batch=True, batch_max_requests=300)) == 300
    assert in_flight_limit(EngineSettings(batch=True, batch_max_requests=5000, max_calls=250)) == 250
    assert in_flight_limit(EngineSettings(batch=True, batch_max_requests=4, max_concurrency=8)) == 8


@pytest.mark.parametrize("batch, expected_peak", [(False, 16), (True, 60)])
def test_calls_in_flight_in_batch_mode_and_not(tmp_path, batch, expected_peak):
    provider = InstrumentedProvider(latency=0.4)
    settings = EngineSettings(provider="scripted", batch=batch, batch_max_requests=60)
    body = "    return len(parallel([lambda i=i: agent('q %d' % i) for i in range(60)]))"
    d = driver(tmp_path, script(body), provider, settings=settings)
    try:
        outcome = d.execute()
    finally:
        d.close()
    assert outcome.status == "completed" and outcome.result == 60
    assert provider.peak == expected_peak


def test_a_stalled_check_waits_for_calls_that_wait_on_a_batch():
    def active(batch: bool) -> _ActiveRun:
        info = RunInfo(id="r", workflow="w", script_hash="h", args={}, scope=Scope(), status="running",
                       budget=Budget(), provider="scripted")
        return _ActiveRun(info=info, proc=None, lock=None, settings=EngineSettings(batch=batch, idle_timeout_s=600))

    plain, batched = active(False), active(True)
    for run in (plain, batched):
        run.calls_waiting.add("k")
    assert plain.idle_limit() == 600
    assert batched.idle_limit() == BATCH_CALL_TIMEOUT_S
    batched.calls_waiting.clear()
    assert batched.idle_limit() == 600  # nothing waiting: a silent run is stalled as usual


def test_worker_reserves_address_space_for_a_full_batch():
    from refute.orchestration.runtime.worker import THREAD_STACK_MB, batch_stack_mb

    assert batch_stack_mb(EngineSettings()) == 0
    assert batch_stack_mb(EngineSettings(batch=True, batch_max_requests=200)) == THREAD_STACK_MB * (200 + 64)


def test_batch_settings_reach_the_run_worker(tmp_path):
    (tmp_path / "slow.json").write_text(json.dumps({"rules": [{"match": ".", "reply": "late", "latency_s": 1.5}]}))
    (tmp_path / ".refute" / "workflows").mkdir(parents=True)
    (tmp_path / ".refute" / "workflows" / "one.py").write_text(
        "meta = {'name': 'one', 'description': 'd', 'phases': [], 'args': {}}\n\ndef main(args):\n"
        "    return agent('q', model='claude-haiku-4-5', default='timed out')\n")
    # idle_timeout_s 0.6: a silent wait on a batch must not count as a stalled run.
    settings = EngineSettings(provider="scripted", scripted_fixture="slow.json", call_timeout_s=0.3, batch=True,
                              batch_window_s=0.25, batch_poll_s=0.5, batch_max_requests=7, idle_timeout_s=0.6)
    engine = Engine(tmp_path, settings)
    try:
        info = engine.wait(engine.start("one"), timeout=30)
        launch = json.loads((tmp_path / ".refute" / "state" / "runs" / info.id / "launch.json").read_text())
    finally:
        engine.close()
    # In the worker, batch=True stretched the 0.3 s deadline: the 1.5 s answer arrived.
    assert info.status == "completed" and info.result == "late", info.error
    stored = launch["settings"]
    assert (stored["batch"], stored["batch_window_s"], stored["batch_poll_s"], stored["batch_max_requests"]) == \
        (True, 0.25, 0.5, 7)


def test_anthropic_provider_reads_the_batch_settings(tmp_path):
    pytest.importorskip("anthropic")
    from refute.orchestration.providers.anthropic import AnthropicProvider

    settings = EngineSettings(batch=True, batch_window_s=0.7, batch_poll_s=3.0, batch_max_requests=5)
    provider = AnthropicProvider(settings, tmp_path, client=object())
    try:
        collector = provider._batch_collector()
        assert (collector.window_s, collector.poll_s, collector.max_requests) == (0.7, 3.0, 5)
    finally:
        provider.close()
    with pytest.raises(NotConfigured, match="batch_poll_s"):
        AnthropicProvider(EngineSettings(batch=True, batch_poll_s="soon"), tmp_path, client=object())


def test_refute_run_has_a_batch_flag(tmp_path, monkeypatch):
    from refute.server.commands import run

    monkeypatch.delenv("REFUTE_BATCH", raising=False)

    parser = argparse.ArgumentParser()
    run.register(parser.add_subparsers())
    args = parser.parse_args(["run", "audit", "--batch", "--workspace", str(tmp_path)])
    engine = run.make_engine(args)
    try:
        assert engine.settings.batch is True
    finally:
        engine.close()
    args = parser.parse_args(["run", "audit", "--workspace", str(tmp_path)])
    engine = run.make_engine(args)
    try:
        assert engine.settings.batch is False
    finally:
        engine.close()


def test_batch_mode_does_not_hold_calls_back_to_warm_a_shared_context(tmp_path):
    provider = InstrumentedProvider(latency=0.3)
    settings = EngineSettings(provider="scripted", batch=True)
    body = "    return parallel([lambda i=i: agent('q %d' % i, context='SHARED PREFIX') for i in range(6)])"
    d = driver(tmp_path, script(body), provider, settings=settings)
    try:
        assert d.execute().status == "completed"
    finally:
        d.close()
    times = sorted(t for _, t in provider.starts)
    assert times[-1] - times[0] < 0.2  # all queued for the same batch, none waited for a first one
