"""Shared body of `refute cancel` and `refute pause`: ask the engine, wait for the run to stop.

Works from any process: when another process drives the run, a request is left in the
run store and that process acts on it within a fraction of a second.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

from refute.orchestration.engine import Engine
from refute.server.commands._options import existing_folder, non_negative_float


def register_control(subparsers, name: str, doc: str, action: Callable[[Engine, str], None]) -> None:
    parser = subparsers.add_parser(name, help=doc.splitlines()[0].split(": ", 1)[1], description=doc)
    parser.add_argument("run_id", metavar="RUN", help="run id (or a unique prefix)")
    parser.add_argument("--workspace", default=".", type=existing_folder, help="workspace root (default: the current folder)")
    parser.add_argument("--wait", type=non_negative_float, default=20.0, help="seconds to wait for the run to stop")
    parser.set_defaults(func=lambda args: _handle(args, name, action))


def _handle(args: argparse.Namespace, name: str, action: Callable[[Engine, str], None]) -> int:
    with Engine(Path(args.workspace)) as engine:
        run_id = engine.store.resolve_id(args.run_id)
        action(engine, run_id)
        deadline = time.monotonic() + args.wait
        info = engine.run(run_id)
        while info.status.live and time.monotonic() < deadline:
            time.sleep(0.1)
            info = engine.run(run_id)
    print(f"run {run_id}: {info.status}")
    return 1 if info.status.live else 0
