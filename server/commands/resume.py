"""`refute resume RUN`: continue a paused, cancelled, failed or interrupted run.

Finished calls replay from the journal at zero tokens; only unfinished calls reach the
provider. Takes over the lock of a run whose driving process died (even by SIGKILL).
`--budget-tokens N` / `--budget-usd X` replace the run's limits (what was spent so far
still counts): that is how a run that ended "budget_reached" (exit 5) continues.
"""

from __future__ import annotations

import argparse

from refute.orchestration.model import Budget
from refute.server.commands._options import add_budget_options
from refute.server.commands.run import add_common, follow, make_engine


def register(subparsers) -> None:
    parser = subparsers.add_parser("resume", help="resume a run (finished calls are not paid twice)",
                                   description=__doc__)
    parser.add_argument("run_id", metavar="RUN", help="run id (or a unique prefix)")
    add_budget_options(parser, "the whole run (replaces its budget)")
    add_common(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    budget = None
    if args.budget_tokens is not None or args.budget_usd is not None:
        budget = Budget(args.budget_tokens, args.budget_usd)
    engine = make_engine(args)
    try:
        run_id = engine.resume(args.run_id, budget=budget)
    except BaseException:
        engine.close()
        raise
    return follow(engine, run_id, as_json=args.json)
