"""`refute restore FINGERPRINT`: undo a dismissal (removes it from .refute/dismissed.json)."""

from __future__ import annotations

import argparse
from pathlib import Path

from refute.server.commands._options import existing_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser("restore", help="undo a dismissal", description=__doc__)
    parser.add_argument("fingerprint", metavar="FINGERPRINT")
    parser.add_argument("--workspace", default=".", type=existing_folder, help="workspace root (default: the current folder)")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.engine import Engine

    with Engine(Path(args.workspace)) as engine:
        finding = engine.restore(args.fingerprint)
    print(f"restored {finding.fingerprint}: {finding.path}:{finding.span.start_line + 1} {finding.title} "
          f"({finding.review_state})")
    return 0
