"""`refute report RUN`: a run's report as markdown, JSON or SARIF 2.1.0.

Markdown is for people (findings grouped by file, with verdicts, confidence and the
provider that produced them); JSON for tools; SARIF for GitHub code scanning and other
SARIF viewers (dismissed findings are included as suppressed results). RUN may be a
unique prefix of a run id, or "all" for every finding in the workspace.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from refute.server.commands._options import existing_folder
from refute.server.commands._output import deliver


def register(subparsers) -> None:
    parser = subparsers.add_parser("report", help="show or export a run's report (md, json, sarif)",
                                   description=__doc__)
    parser.add_argument("run_id", metavar="RUN", help='run id (or a unique prefix), or "all"')
    parser.add_argument("--format", "-f", dest="fmt", choices=["md", "json", "sarif"], default="md")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.add_argument("--workspace", default=".", type=existing_folder, help="workspace root (default: the current folder)")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.engine import Engine

    with Engine(Path(args.workspace)) as engine:
        text = engine.report(None if args.run_id == "all" else args.run_id, args.fmt)
    return deliver(text, args.output, args.fmt, "report")
