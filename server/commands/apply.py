"""`refute apply RUN [PATH...]`: write the edits a run proposed.

Only files the one path rule (refute.analysis.paths) lets an edit write: inside the
workspace after resolving symlinks now, never .git/ or .refute/ or a secret file, and a
file that runs code or configures a tool only when named with --allow-tool-config; and
only files whose bytes are unchanged since the edit was proposed: a file edited since is refused (re-run the workflow to propose against the
current text). Writes are atomic. `--dry-run` only checks. `--diff` prints each edit as a unified diff
against the file as it is now (and writes nothing); a file changed since the proposal is
shown as refused. Exit code 1 when any edit was refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from refute.server.commands._options import existing_folder, workspace_path


def register(subparsers) -> None:
    parser = subparsers.add_parser("apply", help="apply a run's proposed edits (only to unchanged files)",
                                   description=__doc__)
    parser.add_argument("run_id", metavar="RUN", help="run id (or a unique prefix)")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="only these files (workspace-relative or paths on disk)")
    parser.add_argument("--dry-run", action="store_true", help="check which edits would apply; write nothing")
    parser.add_argument("--diff", action="store_true", help="print unified diffs of the edits; write nothing")
    parser.add_argument("--allow-tool-config", action="append", default=[], metavar="PATH",
                        help="also write this file although it runs code or configures a tool (CI definitions, "
                             ".envrc, editor tasks, git attributes; see docs/safety.md); repeatable")
    parser.add_argument("--workspace", default=".", type=existing_folder, help="workspace root (default: the current folder)")
    parser.set_defaults(func=handle)


def _print_diffs(engine, run_id: str, outcomes) -> int:
    from refute.orchestration.reporting.diff import edit_diffs

    if not outcomes:
        print(f"run {run_id} proposed no edits", file=sys.stderr)
        return 0
    refused = 0
    for entry in edit_diffs(engine.workspace, engine.edits(run_id), outcomes):
        if entry["ok"]:
            sys.stdout.write(entry["diff"])
        else:
            refused += 1
            print(f"NO  {entry['message']}", file=sys.stderr)
    print(f"{len(outcomes) - refused} file(s) shown, {refused} refused; nothing was written "
          f"(apply with: refute apply {run_id})", file=sys.stderr)
    return 1 if refused else 0


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.engine import Engine

    with Engine(Path(args.workspace)) as engine:
        paths = [workspace_path(engine.workspace, p) for p in args.paths] or None
        outcomes = engine.apply_edits(args.run_id, paths, write=not (args.dry_run or args.diff),
                                      allow_tool_config=[workspace_path(engine.workspace, p)
                                                         for p in args.allow_tool_config])
        if args.diff:
            return _print_diffs(engine, args.run_id, outcomes)
    if not outcomes:
        print(f"run {args.run_id} proposed no edits")
        return 0
    for outcome in outcomes:
        mark = "ok " if outcome.ok else "NO "
        print(f"{mark} {outcome.message}")
    refused = sum(1 for o in outcomes if not o.ok)
    done = len(outcomes) - refused
    verb = "can be applied" if args.dry_run else "applied"
    print(f"{done} {verb}, {refused} refused", file=sys.stderr)
    return 1 if refused else 0
