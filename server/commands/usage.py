"""`refute usage`: what you spent, per UTC day and month, across runs and workspaces.

Read from the per-user spend ledger (docs/governance.md: where it lives and why), with
the admin policy's daily cap and what is left of it today.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(subparsers) -> None:
    parser = subparsers.add_parser("usage", help="your spend per day and month, and the daily cap",
                                   description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.set_defaults(func=handle)


def figures() -> dict[str, Any]:
    """The ledger's summary with the policy's daily cap and what is left of it today
    (PolicyError when the policy is broken). The language server's `refute.usage` too."""
    from refute.orchestration.governance.gate import ledger_for
    from refute.orchestration.governance.policy import load

    policy = load()
    summary = ledger_for(policy).summary()
    cap = policy.budget_max_usd_per_user_per_day
    summary["daily_cap_usd"] = cap
    summary["left_today_usd"] = None if cap is None else round(max(cap - summary["today_including_reservations_usd"], 0), 6)
    return summary


def handle(args: argparse.Namespace) -> int:
    summary = figures()  # a bad policy is a refusal: exit 2 with its message (server/cli.py)
    cap = summary["daily_cap_usd"]
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"user {summary['user']}  (ledger {summary['ledger']})")
    print(f"{'day':<12} {'runs':>5} {'tokens':>12} {'usd':>10}")
    for day, t in summary["days"].items():
        print(f"{day:<12} {t['runs']:>5} {t['tokens']:>12,} {t['usd']:>10.4f}")
    print(f"{'month':<12} {'runs':>5} {'tokens':>12} {'usd':>10}")
    for month, t in summary["months"].items():
        print(f"{month:<12} {t['runs']:>5} {t['tokens']:>12,} {t['usd']:>10.4f}")
    live = [r for r in summary["open_reservations"] if r["live"]]
    if live:
        print(f"runs going on: {len(live)}, reserving ${sum(r['usd'] or 0 for r in live):.4f}")
    if cap is None:
        print("daily cap: none (the admin policy sets budget.max_usd_per_user_per_day)")
    else:
        print(f"daily cap ${cap:g}: ${summary['today_including_reservations_usd']:.4f} used or reserved today, "
              f"${summary['left_today_usd']:.4f} left (resets 00:00 UTC)")
    return 0
