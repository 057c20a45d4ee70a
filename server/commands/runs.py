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


def open_store(workspace: str):
    from refute.orchestration.store.runs import RunStore, ensure_state_dir

    return RunStore(ensure_state_dir(Path(workspace).resolve()))


def handle(args: argparse.Namespace) -> int:
    store = open_store(args.workspace)
    runs = store.list()
    if args.json:
        print(json.dumps([r.to_dict() for r in runs], indent=2, default=str))
        return 0
    if not runs:
        print("no runs yet", file=sys.stderr)
        return 0
    print(f"{'RUN':<24} {'WORKFLOW':<14} {'STATUS':<24} {'CALLS':>6} {'FAILED':>6} {'TOKENS':>10} {'USD':>9}  STARTED")
    for r in runs:
        status = r.status
        if status in ("running", "queued") and not store.is_driven(r.id):
            status = "interrupted"  # its process died; `refute resume` continues it
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created_at)) if r.created_at else "-"
        print(f"{r.id:<24} {r.workflow[:14]:<14} {status:<24} {r.calls_done:>6} {r.calls_failed:>6} "
              f"{r.usage.total_tokens:>10,} {r.cost_usd:>9.4f}  {started} {r.provider}")
    return 0
