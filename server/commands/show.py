"""`refute show RUN`: one run's details; `--events` prints its audit log as JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from refute.orchestration.model import RunStatus
from refute.server.commands._options import existing_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser("show", help="show a run (--events: its audit log as JSONL)", description=__doc__)
    parser.add_argument("run_id", metavar="RUN", help="run id (or a unique prefix)")
    parser.add_argument("--workspace", default=".", type=existing_folder, help="workspace root (default: the current folder)")
    parser.add_argument("--events", action="store_true", help="print every event of the run as JSON lines")
    parser.add_argument("--json", action="store_true", help="the run as JSON")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.engine import Engine
    from refute.orchestration.store.runs import RunNotFound

    engine = Engine(Path(args.workspace))
    try:
        info = engine.run(args.run_id)  # the status the editor shows too
        events = engine.events(info.id) if args.events else []
    except RunNotFound as exc:
        print(f"refute show: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.close()
    if args.events:
        for event in events:
            sys.stdout.write(json.dumps(event.to_dict(), ensure_ascii=False, default=str) + "\n")
        return 0
    if args.json:
        print(json.dumps(info.to_dict(), indent=2, default=str))
        return 0
    note = " (no live process drives it: `refute resume` continues it)" if info.status is RunStatus.INTERRUPTED else ""
    print(f"run       {info.id}")
    print(f"workflow  {info.workflow} (script {info.script_hash[:12]})")
    print(f"status    {info.status}{note}")
    print(f"provider  {info.provider}    started by {info.started_by}")
    print(f"scope     {', '.join(info.scope.paths) or '(whole workspace)'}")
    print(f"args      {json.dumps(info.args, default=str)}")
    budget = info.budget
    print(f"budget    tokens {budget.tokens if budget.tokens is not None else 'unlimited'}, "
          f"usd {budget.usd if budget.usd is not None else 'unlimited'}")
    print(f"calls     {info.calls_done} done ({info.calls_replayed} replayed), {info.calls_failed} failed")
    print(f"spent     {info.usage.total_tokens:,} tokens (in {info.usage.input_tokens:,}, out {info.usage.output_tokens:,}, "
          f"cache write {info.usage.cache_write_tokens:,}, cache read {info.usage.cache_read_tokens:,}), ${info.cost_usd:.4f}")
    if info.phase:
        print(f"phase     {info.phase}")
    if info.error:
        print(f"error     {info.error}")
    if info.result is not None:
        print(f"result    {json.dumps(info.result, default=str)[:2000]}")
    return 0
