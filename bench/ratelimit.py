"""Pacing from rate-limit headers vs learning from 429s, side by side in one run.

The real anthropic SDK (through refute's Anthropic provider and scheduler, 16 calls in
flight) against the loopback Messages API of tests/fakes with its token-bucket limiter:
input tokens and requests per minute, the real `anthropic-ratelimit-*` headers on every
answer, 429 `rate_limit_error` with a whole-second `retry-after` when a request does not
fit. The same calls run twice, with pacing on (the scheduler's Pacer reads the headers)
and off (only 429s and the AIMD limiter). Figures per mode:

- throughput: input tokens the server accepted per second in steady state, as a share of
  the limit. Steady state = (accepted tokens - the bucket's initial burst) / (last accept
  - first accept), so the burst a fresh bucket allows does not count;
- 429 share: requests answered 429 / all requests sent;
- wall time of the whole batch.

Targets (issue 12): with pacing, throughput >= 90% of the limit and <= 2% of requests
answered 429.

A second pair of rows binds the OUTPUT-token limit instead (input generous): calls with a
large `max_tokens` and short answers, which the API admits against `max_tokens` and
credits back at the end. Target: with pacing, <= 2% of requests answered 429.

    .venv/bin/python bench/ratelimit.py [--calls 200] [--limit 1200000] [--json]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fakes

from bench._report import finish  # noqa: E402

from refute.orchestration.calls.budget import BudgetLedger  # noqa: E402
from refute.orchestration.model import CallRequest  # noqa: E402
from refute.orchestration.providers.anthropic import AnthropicProvider  # noqa: E402
from refute.orchestration.calls.scheduler import Scheduler  # noqa: E402
from refute.orchestration.settings import EngineSettings  # noqa: E402
from tests.fakes.messages_api import TEST_API_KEY, FakeMessagesAPI, TokenBucketLimiter, slow, text_reply  # noqa: E402

MODEL = "claude-haiku-4-5"
TARGET_THROUGHPUT = 0.90
TARGET_429_SHARE = 0.02


def run_mode(*, pace: bool, calls: int, limit: int, prompt_chars: int, latency: float, burst_s: float,
             concurrency: int, output_limit: int | None = None, max_tokens: int = 64) -> dict[str, Any]:
    limiter = TokenBucketLimiter(requests_per_min=100_000, input_tokens_per_min=limit,
                                 output_tokens_per_min=output_limit, burst_s=burst_s)
    with FakeMessagesAPI(responder=lambda call: slow(text_reply("ok"), latency), limiter=limiter) as api, \
            tempfile.TemporaryDirectory(prefix="refute-ratelimit-") as workspace:
        os.environ["ANTHROPIC_API_KEY"] = TEST_API_KEY
        settings = EngineSettings(anthropic_base_url=api.url, call_timeout_s=30.0)
        provider = AnthropicProvider(settings, workspace)  # its state (the input calibration) stays out of the cwd
        scheduler = Scheduler(provider=provider, journal=None, ledger=BudgetLedger(), emit=lambda *a, **k: None,
                              run_id="bench", workspace=workspace, max_concurrency=concurrency,
                              max_calls=calls + 1, max_attempts=50, pace=pace, backoff_base_s=0.2)
        filler = ("lorem ipsum dolor sit amet " * (prompt_chars // 27 + 1))[:prompt_chars]
        requests = [CallRequest(prompt=f"call {i}: {filler}", model=MODEL, max_tokens=max_tokens)
                    for i in range(calls)]
        t0 = time.perf_counter()
        try:
            with ThreadPoolExecutor(concurrency) as pool:
                results = list(pool.map(scheduler.call, requests))
        finally:
            scheduler.close()
            provider.close()
        wall = time.perf_counter() - t0
    assert len(results) == calls
    burst = limiter.capacity["input-tokens"]
    span = (limiter.last_accept or 0) - (limiter.first_accept or 0)
    steady = (limiter.accepted_input_tokens - burst) / span if span > 0 else 0.0
    rate = limit / 60.0
    sent = limiter.accepted + limiter.rejected
    return {"pace": pace, "calls": calls, "requests_sent": sent, "answered_429": limiter.rejected,
            "share_429": round(limiter.rejected / sent, 4) if sent else 0.0,
            "input_tokens_accepted": limiter.accepted_input_tokens,
            "throughput_tokens_per_s": round(steady, 1), "limit_tokens_per_s": round(rate, 1),
            "throughput_share": round(steady / rate, 4), "wall_s": round(wall, 2),
            "calls_per_s": round(calls / wall, 2) if wall > 0 else 0.0,
            "concurrency_at_end": scheduler.limiter.limit,
            "pacer_waits": scheduler.pacer.waits if scheduler.pacer else 0}


def measure(*, calls: int, limit: int, prompt_chars: int, latency: float, burst_s: float,
            concurrency: int, output_limit: int = 240_000, output_max_tokens: int = 1024) -> dict[str, Any]:
    common = dict(calls=calls, limit=limit, prompt_chars=prompt_chars, latency=latency, burst_s=burst_s,
                  concurrency=concurrency)
    paced = run_mode(pace=True, **common)
    unpaced = run_mode(pace=False, **common)
    # Output-bound: input 100x more generous, a large max_tokens, answers of a few tokens.
    bound = dict(common, limit=limit * 100, output_limit=output_limit, max_tokens=output_max_tokens)
    output_paced = run_mode(pace=True, **bound)
    output_unpaced = run_mode(pace=False, **bound)
    ok = (paced["throughput_share"] >= TARGET_THROUGHPUT and paced["share_429"] <= TARGET_429_SHARE
          and output_paced["share_429"] <= TARGET_429_SHARE)
    return {"settings": {**common, "burst_s": burst_s, "output_limit": output_limit,
                         "output_max_tokens": output_max_tokens},
            "paced": paced, "unpaced": unpaced, "output_paced": output_paced, "output_unpaced": output_unpaced,
            "targets": {"throughput_share": TARGET_THROUGHPUT, "share_429": TARGET_429_SHARE}, "ok": ok}


def print_table(result: dict[str, Any]) -> None:
    s = result["settings"]
    print(f"{s['calls']} calls of ~{s['prompt_chars']} characters, {s['concurrency']} in flight, {s['latency']} s each; "
          f"limit {s['limit']:,} input tokens/min (burst {s['burst_s']} s); output-bound rows: "
          f"{s['output_limit']:,} output tokens/min, max_tokens {s['output_max_tokens']:,}")
    header = (f"{'limit':<8}{'pacing':<8}{'tokens/s':>10}{'of limit':>10}{'calls/s':>9}{'sent':>7}{'429s':>7}"
              f"{'429 share':>11}{'wall s':>8}{'conc.':>7}")
    print(header)
    print("-" * len(header))
    for bound, names in (("input", ("paced", "unpaced")), ("output", ("output_paced", "output_unpaced"))):
        for row in (result[name] for name in names):
            # Input throughput is what the input-bound rows measure; the output-bound rows are read by calls/s.
            tokens = (f"{row['throughput_tokens_per_s']:>10,.0f}{row['throughput_share']:>10.1%}" if bound == "input"
                      else f"{'-':>10}{'-':>10}")
            print(f"{bound:<8}{'on' if row['pace'] else 'off':<8}{tokens}"
                  f"{row['calls_per_s']:>9}{row['requests_sent']:>7}{row['answered_429']:>7}"
                  f"{row['share_429']:>11.1%}{row['wall_s']:>8}{row['concurrency_at_end']:>7}")
    t = result["targets"]
    print(f"pacing on: >= {t['throughput_share']:.0%} of the input limit and <= {t['share_429']:.0%} 429s under "
          f"either limit: {'yes' if result['ok'] else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--limit", type=int, default=1_200_000, help="input tokens per minute")
    parser.add_argument("--prompt-chars", type=int, default=4000)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the fake takes to answer")
    parser.add_argument("--burst", type=float, default=1.0, help="bucket capacity in seconds of refill")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--output-limit", type=int, default=240_000, help="output tokens per minute (output-bound rows)")
    parser.add_argument("--output-max-tokens", type=int, default=1024, help="max_tokens of the output-bound calls")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    opts = parser.parse_args(argv)
    for name in ("calls", "limit", "prompt_chars", "concurrency", "output_limit", "output_max_tokens"):
        if getattr(opts, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    result = measure(calls=opts.calls, limit=opts.limit, prompt_chars=opts.prompt_chars, latency=opts.latency,
                     burst_s=opts.burst, concurrency=opts.concurrency, output_limit=opts.output_limit,
                     output_max_tokens=opts.output_max_tokens)
    return finish(result, opts.json, print_table)


if __name__ == "__main__":
    sys.exit(main())
