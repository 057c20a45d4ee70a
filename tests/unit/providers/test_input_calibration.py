"""Reservations from an input estimate calibrated against the provider's counted usage
(providers/reservation.py, InputCalibration): learnt per (provider, model), kept in the
workspace's state, still above what a call uses, and raised for text that tokenizes
densely."""

from __future__ import annotations

import json
import math
import threading

from refute.orchestration.calls.budget import BudgetLedger
from refute.orchestration.calls.scheduler import Scheduler
from refute.orchestration.model import Budget, CallRequest
from refute.orchestration.providers.anthropic import AnthropicProvider
from refute.orchestration.providers.reservation import (
    CALIBRATION_FILE,
    CALIBRATION_MARGIN,
    CALIBRATION_MIN,
    CALIBRATION_WINDOW,
    InputCalibration,
    first_request_tokens,
)
from refute.orchestration.providers.tools import tool_definitions
from tests.fakes.messages_api import json_reply

MODEL = "claude-haiku-4-5"


def test_the_upper_estimate_holds_until_enough_calls_were_counted(tmp_path):
    calibration = InputCalibration(tmp_path / CALIBRATION_FILE)
    for _ in range(CALIBRATION_MIN - 1):
        calibration.observe("anthropic", MODEL, 1000, 700)
        assert calibration.estimate("anthropic", MODEL, 1000) == 1000
    calibration.observe("anthropic", MODEL, 1000, 760)
    assert calibration.estimate("anthropic", MODEL, 1000) == math.ceil(1000 * 0.76 * CALIBRATION_MARGIN)  # the highest
    assert calibration.estimate("anthropic", "another-model", 1000) == 1000  # per (provider, model)
    assert calibration.estimate("openai", MODEL, 1000) == 1000


def test_dense_text_raises_the_estimate_above_the_fixed_one(tmp_path):
    calibration = InputCalibration(None)
    for _ in range(CALIBRATION_MIN):
        calibration.observe("anthropic", MODEL, 1000, 1300)  # e.g. CJK text: more than a token per 3 bytes
    assert calibration.estimate("anthropic", MODEL, 1000) == math.ceil(1000 * 1.3 * CALIBRATION_MARGIN)


def test_it_is_kept_in_the_state_dir_and_survives_a_new_process(tmp_path):
    path = tmp_path / "state" / CALIBRATION_FILE
    first = InputCalibration(path)
    for i in range(CALIBRATION_WINDOW + 10):
        first.observe("anthropic", MODEL, 1000, 600 + i % 3)
    stored = json.loads(path.read_text())
    assert len(stored[f"anthropic/{MODEL}"]) == CALIBRATION_WINDOW  # only the latest are kept
    assert not [p for p in path.parent.iterdir() if p.name != CALIBRATION_FILE]  # no temp file left behind
    again = InputCalibration(path)
    assert again.estimate("anthropic", MODEL, 1000) == first.estimate("anthropic", MODEL, 1000) < 1000
    path.write_text("{not json")
    assert InputCalibration(path).estimate("anthropic", MODEL, 1000) == 1000  # damaged: relearnt, no error


def test_learn_false_keeps_the_upper_estimate(tmp_path):
    calibration = InputCalibration(tmp_path / CALIBRATION_FILE, learn=False)
    for _ in range(5):
        calibration.observe("anthropic", MODEL, 1000, 500)
    assert calibration.estimate("anthropic", MODEL, 1000) == 1000
    assert not (tmp_path / CALIBRATION_FILE).exists()


def test_the_anthropic_provider_learns_from_the_api_and_still_reserves_enough(fake_messages_api, settings, workspace,
                                                                              ctx):
    """Against the loopback API (which counts 4 characters a token): after a few calls
    the reservation of a new call drops below the fixed estimate and still covers what
    the API counts for it; the ratios land in the workspace's state dir."""
    provider = AnthropicProvider(settings, workspace)
    fake_messages_api.responder = lambda call: json_reply({"ok": True})
    try:
        requests = [CallRequest(prompt=f"check unit {i}: " + "x = compute(y) + 1\n" * (20 + 7 * i), model=MODEL,
                                max_tokens=256) for i in range(CALIBRATION_MIN + 1)]
        fixed = [first_request_tokens(r, tool_definitions) + r.max_tokens for r in requests]
        for request in requests[:CALIBRATION_MIN]:
            assert provider.worst_case(request)[0] == first_request_tokens(request, tool_definitions) + 256
            provider.call(request, ctx)
        last = requests[-1]
        reserved = provider.worst_case(last)[0]
        assert reserved < fixed[-1]
        result = provider.call(last, ctx)
        assert result.usage.total_tokens <= reserved
        assert (workspace / ".refute" / "state" / CALIBRATION_FILE).is_file()
    finally:
        provider.close()


def test_a_hard_budget_holds_with_calibrated_reservations(fake_messages_api, settings, workspace):
    """Calibrated (smaller) reservations let more calls run within a budget, and the
    budget is still never overshot: every call used at most what it reserved."""
    fake_messages_api.responder = lambda call: json_reply({"ok": True})
    provider = AnthropicProvider(settings, workspace)
    ledger = BudgetLedger(Budget(tokens=12_000))
    scheduler = Scheduler(provider=provider, journal=None, ledger=ledger, emit=lambda *a, **k: None, run_id="r",
                          workspace=str(workspace), max_concurrency=4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        request = CallRequest(prompt=f"unit {i}: " + "total += item.price * qty\n" * (10 + i % 9), model=MODEL,
                              max_tokens=200)
        try:
            scheduler.call(request)
            outcome = "ok"
        except Exception as exc:  # BudgetExceeded once the budget is reached
            outcome = type(exc).__name__
        with lock:
            outcomes.append(outcome)

    try:
        for i in range(4):  # calibrate first
            one(i)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(4, 40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        scheduler.close()
        provider.close()
    assert ledger.spent_tokens <= 12_000 and ledger.reserved_tokens == 0
    assert ledger.overruns == 0  # no call used more than it reserved
    assert "ok" in outcomes and set(outcomes) <= {"ok", "BudgetExceeded"}
