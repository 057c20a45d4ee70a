"""`refute findings [--path P] [--all]`: the workspace's findings, re-anchored to the files
as they are now (a finding whose quoted code is gone shows as stale)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from refute.server.commands._options import existing_folder, workspace_path


def register(subparsers) -> None:
    parser = subparsers.add_parser("findings", help="list findings (re-anchored to the current files)",
                                   description=__doc__)
    parser.add_argument("--path", "-p", help="only findings in this file or folder (workspace-relative)")
    parser.add_argument("--run", dest="run_id", metavar="RUN", help="only findings reported by this run")
    parser.add_argument("--all", action="store_true", help="include dismissed findings")
    parser.add_argument("--json", action="store_true", help="print JSON (one array) instead of lines")
    parser.add_argument("--workspace", default=".", type=existing_folder, help="workspace root (default: the current folder)")
    parser.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.engine import Engine
    from refute.orchestration.reporting.report import provider_label

    with Engine(Path(args.workspace)) as engine:
        path = workspace_path(engine.workspace, args.path) if args.path else None
        found = engine.findings(run_id=args.run_id, path=path, include_dismissed=args.all)
    if args.json:
        print(json.dumps([f.to_dict() for f in found], indent=2, ensure_ascii=False))
        return 0
    if not found:
        print("no findings" + ("" if args.all else " (dismissed ones are hidden; --all shows them)"))
        return 0
    for f in found:
        state = "" if f.review_state == "new" else f" [{f.review_state}]"
        cwe = f" {f.cwe}" if f.cwe else ""
        print(f"{f.path}:{f.span.start_line + 1}:{f.span.start_col + 1}: {f.severity}{cwe}: {f.title}{state}")
        print(f"    {f.fingerprint}  confidence {f.confidence:.2f}  {len(f.verdicts)} verdict(s)  "
              f"{f.workflow or '?'} run {f.run_id}  provider: {provider_label(f.provider)}")
    return 0
