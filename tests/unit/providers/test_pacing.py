"""The Pacer's accounting (calls/pacing.py), without a server or timing: output paced
against max_tokens and credited back, the first call probing alone, capacity read from
`reset`, and output still held by running calls taken off a stale report."""

from __future__ import annotations

import datetime
import threading
import time

from refute.orchestration.calls.pacing import Pacer


def headers(**levels: tuple[float, float, float | None]) -> dict[str, str]:
    """headers(output_tokens=(limit, remaining, seconds until full)) -> anthropic-ratelimit-* headers."""
    out: dict[str, str] = {}
    for name, (limit, remaining, full_in) in levels.items():
        key = name.replace("_", "-")
        out[f"anthropic-ratelimit-{key}-limit"] = str(limit)
        out[f"anthropic-ratelimit-{key}-remaining"] = str(remaining)
        if full_in is not None:
            when = datetime.datetime.fromtimestamp(time.time() + full_in, datetime.timezone.utc)
            out[f"anthropic-ratelimit-{key}-reset"] = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return out


def level(pacer: Pacer, name: str) -> float:
    return pacer._buckets[name].level


def reported_pacer(**levels) -> Pacer:
    pacer = Pacer()
    stop = threading.Event()
    first = pacer.acquire(10, 100, stop)
    assert first is not None and first.probe
    pacer.report(headers(**levels))
    pacer.finished(first)
    return pacer


def test_output_is_debited_by_max_tokens_and_credited_back_by_what_was_not_generated():
    pacer = reported_pacer(output_tokens=(600_000, 100_000, 0.0))  # a full bucket of 600,000/min
    assert pacer._buckets["output-tokens"].capacity == 100_000  # full now: what is left is what it holds
    start = level(pacer, "output-tokens")
    debit = pacer.acquire(50, 4096, threading.Event())
    assert debit.output_tokens == 4096 and not debit.probe
    assert level(pacer, "output-tokens") <= start - 4096 + 50  # (plus a few ms of refill)
    pacer.observe(50, 96, debit)
    pacer.finished(debit)
    assert level(pacer, "output-tokens") >= start - 96 - 1


def test_the_first_call_goes_alone_until_its_answer_tells_the_limits():
    pacer, stop = Pacer(), threading.Event()
    probe = pacer.acquire(10, 100, stop)
    assert probe.probe
    second: list = []
    waiter = threading.Thread(target=lambda: second.append(pacer.acquire(10, 100, stop)))
    waiter.start()
    waiter.join(0.6)
    assert waiter.is_alive() and not second  # waits for the probe
    pacer.report(headers(requests=(1000, 999, None), input_tokens=(100_000, 99_000, None),
                         output_tokens=(100_000, 99_000, None)))
    pacer.finished(probe)
    waiter.join(2)
    assert second and second[0] is not None and not second[0].probe


def test_a_provider_that_reports_nothing_is_not_paced_after_its_first_call():
    pacer, stop = Pacer(), threading.Event()
    probe = pacer.acquire(10, 100, stop)
    pacer.finished(probe)  # answered without a report
    calls = [pacer.acquire(10, 100, stop) for _ in range(50)]
    assert all(c is not None and not c.probe for c in calls) and not pacer.active


def test_a_waiting_call_gives_up_when_the_run_stops():
    pacer, stop = Pacer(), threading.Event()
    pacer.acquire(10, 100, stop)  # the probe, never finished
    stop.set()
    assert pacer.acquire(10, 100, stop) is None


def test_capacity_is_what_is_left_plus_the_refill_until_full():
    pacer = reported_pacer(input_tokens=(60_000, 500, 1.5))  # 1,000/s: full in 1.5 s holds 2,000
    assert abs(pacer._buckets["input-tokens"].capacity - 2000) < 50


def test_output_still_held_by_running_calls_is_taken_off_a_stale_report():
    pacer = reported_pacer(output_tokens=(6_000_000, 100_000, 0.0))
    stop = threading.Event()
    running = [pacer.acquire(10, 10_000, stop) for _ in range(5)]  # 50,000 held
    # A report computed before any of them was admitted says 100,000 are left.
    pacer.report(headers(output_tokens=(6_000_000, 100_000, 0.0)))
    assert level(pacer, "output-tokens") <= 50_000 + 1_000
    for debit in running:
        pacer.finished(debit)


def test_the_report_of_a_call_counts_the_calls_sent_before_it():
    pacer = reported_pacer(output_tokens=(6_000_000, 100_000, 0.0))
    stop = threading.Event()
    running = [pacer.acquire(10, 10_000, stop) for _ in range(5)]
    pacer.finished(running[0])
    pacer.observe(10, 10_000, running[0])
    # running[2]'s report: the server had admitted running[0..2] (80,000 left after them);
    # running[3] and [4] were sent after it and still hold 20,000.
    pacer._buckets["output-tokens"].level = 1_000_000  # as if the mirror had drifted high
    pacer.report(headers(output_tokens=(6_000_000, 80_000, 0.0)), since=running[2])
    assert 59_000 <= level(pacer, "output-tokens") <= 61_000
