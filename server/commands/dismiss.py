"""`refute dismiss FINGERPRINT --reason R`: mark a finding as not worth acting on.

Recorded in `.refute/dismissed.json` (commit it: the team shares triage), with who, when
and why. A dismissed finding stays dismissed when later runs report it again.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from refute.server.commands._options import existing_folder


def register(subparsers) -> None:
    parser = subparsers.add_parser("dismiss", help="dismiss a finding (shared via .refute/dismissed.json)",
                                   description=__doc__)
    parser.add_argument("fingerprint", metavar="FINGERPRINT", help="the finding's fingerprint (see `refute findings`)")
    parser.add_argument("--reason", "-r", required=True, help="why (shared with the team)")
    parser.add_argument("--who", help="who dismisses it (default: your user name)")
    parser.add_argument("--workspace", default=".", type=existing_folder, help="workspace root (default: the current folder)")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.engine import Engine

    with Engine(Path(args.workspace)) as engine:
        finding = engine.dismiss(args.fingerprint, args.reason, args.who or _user())
    print(f"dismissed {finding.fingerprint}: {finding.path}:{finding.span.start_line + 1} {finding.title}")
    print("recorded in .refute/dismissed.json (commit it to share the triage)", file=sys.stderr)
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
