"""bench/ratelimit.py at a small size: the real SDK against the loopback token-bucket
limiter; pacing from the `anthropic-ratelimit-*` headers keeps 429s at <= 2% while
filling the limit, where learning from 429s alone meets a storm of them and cuts
concurrency; the same under an output-token limit that large max_tokens bind."""

from __future__ import annotations

import json


def test_ratelimit_bench_small(capsys, monkeypatch, load_bench):
    bench = load_bench("ratelimit")
    bench.main(["--calls", "80", "--prompt-chars", "800", "--limit", "240000", "--latency", "0.1", "--json"])
    result = json.loads(capsys.readouterr().out)  # one JSON object
    paced, unpaced = result["paced"], result["unpaced"]
    assert paced["share_429"] <= 0.02 and paced["throughput_share"] >= 0.8, paced
    assert unpaced["answered_429"] > paced["answered_429"] and unpaced["concurrency_at_end"] < 16
    assert paced["concurrency_at_end"] == 16  # no 429 storm, so nothing to halve
    # Output-bound (max_tokens held while a call generates): paced stays clear of 429s too.
    out_paced, out_unpaced = result["output_paced"], result["output_unpaced"]
    assert out_paced["share_429"] <= 0.02 and out_unpaced["answered_429"] > out_paced["answered_429"], out_paced
