"""`refute runs`: the runs of this workspace, newest last."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from refute.server.commands._options import existing_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser("runs", help="list the runs of this workspace", description=__doc__)
    parser.add_argument("--workspace", default=".", type=existing_folder, help="workspace root (default: the current folder)")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.engine import Engine

    with Engine(Path(args.workspace)) as engine:
        runs = engine.runs()  # the statuses the editor shows too ("interrupted": its process died)
    if args.json:
        print(json.dumps([r.to_dict() for r in runs], indent=2, default=str))
        return 0
    if not runs:
        print("no runs yet", file=sys.stderr)
        return 0
    print(f"{'RUN':<24} {'WORKFLOW':<14} {'STATUS':<24} {'CALLS':>6} {'FAILED':>6} {'TOKENS':>10} {'USD':>9}  STARTED")
    for r in runs:
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)) if r.created_at else "-"
        print(f"{r.id:<24} {r.workflow[:14]:<14} {r.status:<24} {r.calls_done:>6} {r.calls_failed:>6} "
              f"{r.usage.total_tokens:>10,} {r.cost_usd:>9.4f}  {started} {r.provider}")
    return 0
