"""`refute pause RUN`: pause a run (in-flight calls finish; resume later).

Works from any process: when another process drives the run, a request is left in the
run store and that process acts on it within a fraction of a second.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("pause", help=__doc__.splitlines()[0].split(": ", 1)[1], description=__doc__)
    parser.add_argument("run_id", metavar="RUN", help="run id (or a unique prefix)")
    parser.add_argument("--workspace", default=".", help="workspace root (default: the current folder)")
    parser.add_argument("--wait", type=float, default=20.0, help="seconds to wait for the run to stop")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.engine import Engine

    engine = Engine(Path(args.workspace))
    try:
        run_id = engine.store.resolve_id(args.run_id)
        engine.pause(run_id)
        deadline = time.monotonic() + args.wait
        info = engine.run(run_id)
        while info.status in ("running", "queued") and time.monotonic() < deadline:
            time.sleep(0.1)
            info = engine.run(run_id)
    except Exception as exc:
        print(f"refute pause: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.close()
    print(f"run {run_id}: {info.status}")
    return 0 if info.status not in ("running", "queued") else 1
