"""`refute new "what you want"`: the model writes a workflow script for you.

The script is saved as `.refute/workflows/NAME.py`, checked (sandbox compile, meta/main)
and dry-run (`refute plan`-style: placeholder answers, counts agent calls), and NOT run:
read it, then `refute run NAME`. The model call is an ordinary engine run (journaled,
budgeted, labelled with its provider), the same path the editor's "new workflow" takes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from refute.orchestration.errors import RefusedError
from refute.orchestration.model import RunStatus


def register(subparsers) -> None:
    from refute.server.commands.run import add_common

    parser = subparsers.add_parser("new", help="have the model write a new workflow script (saved, not run)",
                                   description=__doc__)
    parser.add_argument("request", help='what the workflow should do, e.g. "find unchecked return values"')
    add_common(parser)
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.server.commands.run import make_engine

    if not args.request.strip():
        print('refute new: describe the workflow, e.g. refute new "find unchecked return values"', file=sys.stderr)
        return 2
    engine = make_engine(args)
    try:
        rel = engine.new_workflow(args.request)
        problems = [str(p) for p in engine.check_script(engine.workspace / rel)]
        plan = None
        if not problems:
            try:
                plan = engine.plan(rel)
                if plan.status not in (RunStatus.COMPLETED, RunStatus.COMPLETED_WITH_FAILURES):
                    problems.append(f"dry run {plan.status}: {plan.error}")
            except RefusedError as exc:  # the dry run's failure is a fact about the script
                problems.append(f"dry run failed: {exc}")
        provider = engine.settings.provider
    finally:
        engine.close()
    name = Path(rel).stem
    if args.json:
        print(json.dumps({"path": rel, "name": name, "problems": problems,
                          "plan": plan.to_dict() if plan else None, "provider": provider},
                         indent=2))
        return 0 if not problems else 1
    print(f"wrote {rel}  (written by provider: {provider})")
    if plan:
        print(f"dry run: {plan.calls} agent call(s) over {plan.units} unit(s), at most "
              f"{plan.tokens:,} tokens / ${plan.cost_usd:.2f} (estimate, no model called)")
    for problem in problems:
        print(f"{rel}: {problem}", file=sys.stderr)
    if problems:
        print("fix the problems above before running it", file=sys.stderr)
    print(f"read it, then run it with:  refute run {name}")
    return 0 if not problems else 1
