"""`refute export RUN --format json|csv`: a run's audit record.

Who started it and from where, when, the workflow script and its hash, args, scope,
provider, endpoint, regions and models, every agent call (time, model, tokens, cost,
which file paths were sent: never their contents), findings with verdicts, applied
edits, dismissals (who, why) and failures. JSON follows the versioned schema shipped as
refute/orchestration/governance/audit_record.schema.json; CSV is the same record as
one flat table. Every field: docs/governance.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from refute.server.commands._output import deliver


def register(subparsers) -> None:
    parser = subparsers.add_parser("export", help="a run's audit record (json or csv)",
                                   description=__doc__)
    parser.add_argument("run_id", metavar="RUN", help="run id (or a unique prefix)")
    parser.add_argument("--format", "-f", dest="fmt", choices=["json", "csv"], default="json")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--workspace", default=".", help="workspace root (default: the current folder)")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.engine import Engine

    with Engine(Path(args.workspace)) as engine:
        text = engine.audit_record(args.run_id, args.fmt)
    return deliver(text, args.output, args.fmt, "export")
