"""What governance costs per check: reading the policy, the ledger's daily-cap check as
the ledger grows, assembling a 1,000-call audit record, and the dry-run plan `refute run`
now makes before asking for approval (against starting the same run with --yes).

    .venv/bin/python bench/governance.py [--json] [--repeat 200]

All figures are medians measured in this one run (the machine is noisy); the ratios
compare neighbours measured side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from refute.orchestration.governance import record
from refute.orchestration.governance.ledger import SpendLedger
from refute.orchestration.governance.policy import load

POLICY = """
[workflows]
allowed = ["audit", "ask", "migrate", "review", "security"]
[providers]
allowed = ["anthropic", "scripted"]
endpoints = ["https://gateway.example.com/anthropic"]
regions = ["eu"]
models = ["claude-haiku-4-5", "claude-sonnet-5-5"]
[budget]
max_usd_per_run = 5.0
max_usd_per_user_per_day = 20.0
[approval]
threshold_calls = 100
[edits]
allow_apply = false
[data]
never_send = ["customers/**", "*.sql"]
"""


def median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ledger_with(folder: Path, records: int) -> SpendLedger:
    ledger = SpendLedger(folder, user="bench")
    lines = []
    now = time.time()
    for i in range(records):
        lines.append(json.dumps({"kind": "spend", "run_id": f"r{i}", "workspace": "/w", "workflow": "audit",
                                 "usd": 0.01, "tokens": 100, "day": time.strftime("%Y-%m-%d", time.gmtime(now)),
                                 "month": time.strftime("%Y-%m", time.gmtime(now)), "ts": now}))
    folder.mkdir(parents=True, exist_ok=True)
    ledger.path.write_text("\n".join(lines) + "\n")
    return ledger


def synthetic_events(calls: int) -> list[dict]:
    events = []
    for i in range(calls):
        key = f"{i:064x}"
        events.append({"type": "call_paths", "key": key, "paths": [f"pkg/mod_{i % 300}.py"], "ts": 1.0 + i})
        events.append({"type": "call_started", "key": key, "label": f"audit:find pkg/mod_{i}.py", "ts": 1.0 + i})
        events.append({"type": "call_finished", "key": key, "label": f"audit:find pkg/mod_{i}.py",
                       "model": "claude-sonnet-5-5", "provider": "anthropic", "ts": 2.0 + i, "cost_usd": 0.01,
                       "usage": {"input_tokens": 900, "output_tokens": 250}, "latency_s": 3.2, "replayed": False})
    return events


def plan_vs_start(tmp: Path) -> dict[str, float]:
    """`refute run` without --yes plans first: one dry-run worker before the run's own."""
    from refute.orchestration.engine import Engine
    from refute.orchestration.settings import EngineSettings

    template = Path(__file__).resolve().parents[1] / "tests" / "e2e" / "lsp" / "workspace"
    ws = tmp / "ws"
    shutil.copytree(template, ws)
    settings = EngineSettings(provider="scripted", scripted_fixture=str(ws / ".refute" / "answers.py") + ":answer")
    engine = Engine(ws, settings)
    try:
        plans, runs = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            engine.plan("audit", None, {})
            plans.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            run_id = engine.start("audit")
            engine.wait(run_id, timeout=120)
            runs.append(time.perf_counter() - t0)
    finally:
        engine.close()
    return {"plan_s": statistics.median(plans), "run_s": statistics.median(runs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        os.environ["REFUTE_LEDGER_DIR"] = str(tmp / "run-ledger")
        policy_path = tmp / "policy.toml"
        policy_path.write_text(POLICY)
        env = {"REFUTE_POLICY": str(policy_path)}
        figures: dict[str, float] = {"policy_load_us": median_s(lambda: load(env), args.repeat) * 1e6}
        for n in (1_000, 10_000):
            ledger = ledger_with(tmp / f"ledger{n}", n)
            figures[f"ledger_check_{n}_ms"] = median_s(lambda: ledger.spent_today(), max(args.repeat // 10, 5)) * 1e3
        figures["ledger_10k_vs_1k"] = figures["ledger_check_10000_ms"] / figures["ledger_check_1000_ms"]
        events = synthetic_events(1000)
        figures["record_calls_1000_ms"] = median_s(lambda: record._calls(events), max(args.repeat // 10, 5)) * 1e3
        timing = plan_vs_start(tmp)
        figures["approval_plan_s"] = timing["plan_s"]
        figures["run_s"] = timing["run_s"]
        figures["plan_vs_run"] = timing["plan_s"] / timing["run_s"]
    if args.json:
        print(json.dumps({k: round(v, 4) for k, v in figures.items()}))
        return 0
    rows = [
        ("read + validate the policy (every check)", f"{figures['policy_load_us']:.0f} us"),
        ("ledger daily-cap check, 1,000 records", f"{figures['ledger_check_1000_ms']:.2f} ms"),
        ("ledger daily-cap check, 10,000 records", f"{figures['ledger_check_10000_ms']:.2f} ms"),
        ("  ratio 10k / 1k", f"{figures['ledger_10k_vs_1k']:.1f}x"),
        ("audit record: 1,000 calls from events", f"{figures['record_calls_1000_ms']:.2f} ms"),
        ("approval plan before `refute run` (dry run)", f"{figures['approval_plan_s']:.2f} s"),
        ("the audit run itself (scripted, 3 units)", f"{figures['run_s']:.2f} s"),
        ("  ratio plan / run", f"{figures['plan_vs_run']:.2f}x"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
