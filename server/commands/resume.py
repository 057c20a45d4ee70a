"""`refute resume RUN`: continue a paused, cancelled, failed or interrupted run.

Finished calls replay from the journal at zero tokens; only unfinished calls reach the
provider. Takes over the lock of a run whose driving process died (even by SIGKILL).
"""

from __future__ import annotations

import argparse
import sys

from refute.server.commands.run import add_common, follow, make_engine


def register(subparsers) -> None:
    parser = subparsers.add_parser("resume", help="resume a run (finished calls are not paid twice)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_id", metavar="RUN", help="run id (or a unique prefix)")
    add_common(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    engine = make_engine(args)
    try:
        run_id = engine.resume(args.run_id)
    except Exception as exc:
        print(f"refute resume: {exc}", file=sys.stderr)
        engine.close()
        return 2
    return follow(engine, run_id, as_json=args.json)
