"""`refute plan [PATH]`: what a run over PATH would look at, without calling any model.

Shows the files found and skipped (with reasons, grouped), work units by language, the
token estimate and the largest units. PATH narrows to a file or folder inside the
workspace (default: all of it). With `--workflow NAME` it also asks the engine for the
workflow's estimate of agent calls, tokens and cost (a dry run with placeholder
answers). `--json` prints one machine-readable object.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from refute.orchestration.model import PlanEstimate
from refute.server.commands._options import (
    UsageError,
    existing_folder,
    key_value,
    positive_int,
    workspace_path,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser("plan", help="show files, work units and token estimates (no model calls)",
                                   description=__doc__)
    parser.add_argument("path", nargs="?", metavar="PATH", help="file or folder to plan (default: the workspace)")
    parser.add_argument("--workspace", default=None, type=existing_folder,
                        help="workspace root (default: the enclosing git or .refute folder, else the current folder)")
    parser.add_argument("--max-unit-tokens", type=positive_int, default=None,
                        help="largest work unit, in estimated tokens (default: REFUTE_MAX_UNIT_TOKENS or 8000)")
    parser.add_argument("--lines", default=None, metavar="START-END",
                        help="only units overlapping these lines of PATH (1-based, inclusive)")
    parser.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                        help="extra gitignore-style pattern to skip (repeatable)")
    parser.add_argument("--since", default=None, metavar="REF",
                        help="only files changed since a git ref, and in them the units covering changed lines")
    parser.add_argument("--no-cache", action="store_true", help="split every file again (ignore the units cache)")
    parser.add_argument("--workflow", default=None, metavar="NAME", help="also estimate this workflow's calls and cost")
    parser.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE", type=key_value,
                        help="workflow argument (VALUE parsed as JSON when it can be; repeatable)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--top", type=positive_int, default=10, help="how many of the largest units to list")
    parser.add_argument("--list-units", action="store_true",
                        help="with --json: also list every unit (id, path, lines, symbol, tokens; no text)")
    parser.set_defaults(func=handle)


def find_workspace(start: Path) -> Path:
    """The nearest folder at or above `start` holding .git or .refute, else `start`."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists() or (folder / ".refute").is_dir():
            return folder
    return start


def parse_lines(spec: str) -> tuple[int, int]:
    """"10-20" or "10" (1-based, inclusive) -> 0-based inclusive (9, 19)."""
    start_text, _, end_text = spec.partition("-")
    try:
        start = int(start_text)
        end = int(end_text) if end_text else start
    except ValueError:
        raise UsageError(f"--lines needs START-END (1-based), got {spec!r}") from None
    if start < 1 or end < start:
        raise UsageError(f"--lines needs 1 <= START <= END, got {spec!r}")
    return start - 1, end - 1


def _resolve(args: argparse.Namespace) -> tuple[Path, list[str]]:
    cwd = Path.cwd()
    target = Path(args.path).resolve() if args.path else None
    if args.workspace:
        root = Path(args.workspace).resolve()
        if target is not None and not target.exists() and not Path(args.path).is_absolute():
            target = (root / args.path).resolve()  # a workspace-relative PATH
    else:
        root = find_workspace(target if target is not None and target.is_dir() else cwd)
        if target is not None and target != root and root not in target.parents:
            root = find_workspace(target.parent if target.is_file() else target)
    if not root.is_dir():
        raise UsageError(f"workspace is not a folder: {root}")
    paths: list[str] = []
    if target is not None and target != root:
        if not target.exists():
            raise UsageError(f"no such file or folder: {args.path}")
        paths = [workspace_path(root, str(target))]
    return root, paths


def summarize(plan, top: int) -> dict[str, Any]:
    """The plan as JSON-ready data: totals, skipped by reason, units by language, largest units."""
    files_by_language = Counter(f.language for f in plan.files)
    units_by_language: dict[str, dict[str, int]] = defaultdict(lambda: {"files": 0, "units": 0, "tokens": 0})
    for language, count in files_by_language.items():
        units_by_language[language]["files"] = count
    for unit in plan.units:
        entry = units_by_language[unit.language]
        entry["units"] += 1
        entry["tokens"] += unit.tokens
    skipped_groups: dict[str, list[str]] = defaultdict(list)
    for skipped in plan.skipped + plan.errors:
        skipped_groups[skipped.category].append(skipped.path)
    largest = sorted(plan.units, key=lambda u: u.tokens, reverse=True)[:top]
    return {
        "workspace": plan.root,
        "max_unit_tokens": plan.max_unit_tokens,
        "files": len(plan.files),
        "bytes": sum(f.size for f in plan.files),
        "skipped": len(plan.skipped) + len(plan.errors),
        "units": len(plan.units),
        "tokens": plan.total_tokens,
        "cache": {"hits": plan.cache_hits, "misses": plan.cache_misses},
        "by_language": dict(sorted(units_by_language.items(), key=lambda kv: -kv[1]["tokens"])),
        "skipped_by_reason": {k: v for k, v in sorted(skipped_groups.items(), key=lambda kv: -len(kv[1]))},
        "skipped_detail": [s.to_dict() for s in plan.skipped + plan.errors],
        "largest_units": [
            {"path": u.path, "symbol": u.symbol, "start_line": u.start_line, "end_line": u.end_line,
             "tokens": u.tokens, "id": u.id}
            for u in largest
        ],
    }


def _workflow_estimate(root: Path, workflow: str, paths: list[str], selection, args: dict[str, Any],
                       since: str | None = None) -> PlanEstimate:
    from refute.orchestration.engine import Engine
    from refute.orchestration.model import Scope

    with Engine(root) as engine:
        estimate = engine.plan(workflow, Scope(paths=paths, selection=selection, since=since), args)
    return estimate


def handle(args: argparse.Namespace) -> int:
    from refute.analysis.plan import plan_workspace

    try:
        root, paths = _resolve(args)
        selection = parse_lines(args.lines) if args.lines else None
        if selection is not None and (len(paths) != 1 or not (root / paths[0]).is_file()):
            raise UsageError("--lines needs PATH to be one file")
        workflow_args = dict(args.arg)
        from refute.orchestration.settings import EngineSettings

        from refute.orchestration.governance import policy as admin_policy

        settings = EngineSettings.from_env()
        # The admin policy's never-send globs hold for the free preview too: what it lists is
        # shown as skipped ("secret"), exactly as a run would skip it.
        never_send = tuple(dict.fromkeys([*settings.never_send, *admin_policy.load().data_never_send]))
        max_tokens = args.max_unit_tokens or settings.max_unit_tokens
        excludes = list(args.exclude) or list(settings.excludes)
        plan = plan_workspace(root, paths=paths, selection=selection, max_unit_tokens=max_tokens,
                              extra_ignores=excludes, use_cache=not args.no_cache, never_send=never_send,
                              since=args.since)
        summary = summarize(plan, args.top)
        if args.list_units:
            summary["unit_list"] = [
                {"id": u.id, "path": u.path, "language": u.language, "start_line": u.start_line,
                 "end_line": u.end_line, "symbol": u.symbol, "tokens": u.tokens, "content_hash": u.content_hash}
                for u in plan.units
            ]
        estimate = None
        if args.workflow:
            estimate = _workflow_estimate(root, args.workflow, paths, selection, workflow_args, args.since)
            summary["workflow"] = estimate.to_dict()
    except (UsageError, ValueError, FileNotFoundError, NotADirectoryError) as exc:
        print(f"refute plan: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        render(summary, estimate)
    return 0


def render_forecast(console, estimate: PlanEstimate) -> None:
    """Low / expected / high with verification counted, and the runs the scope needs
    (the forecast's shape: calls/forecast.py, docs/scale.md)."""
    from rich.table import Table

    forecast: dict[str, Any] = estimate.forecast
    rate = estimate.candidate_rate
    table = Table(title=f"workflow {estimate.workflow}: estimate with verification (no model called)",
                  title_justify="left")
    for column in ("case", "candidates/call", "calls", "of which verify", "tokens", "cost", "runs"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for case in ("low", "expected", "high"):
        row = forecast["cases"][case]
        table.add_row(case, f"{row['candidate_rate']:g}", f"{row['calls']:,}", f"{row['verification_calls']:,}",
                      f"{row['tokens']:,}", f"${row['cost_usd']:.2f}", str(forecast["runs_needed"][case]))
    console.print(table)
    console.print(f"candidate rate {rate.get('value')} per finder call ({rate.get('source')}"
                  + (f", from {rate.get('runs')} run(s) over {rate.get('items')} units" if rate.get("source") == "calibrated" else "")
                  + f"); runs of at most {estimate.max_calls:,} paid calls")
    if estimate.fan_out == "components":
        console.print("searched per component: a finder call is a component's researcher (docs/workflows.md)")
    items = "finder calls" if estimate.fan_out == "components" else "units"
    for run in forecast.get("runs") or []:
        files = run["files"]
        shown = files[0] + (f" .. {files[-1]}" if len(files) > 1 else "")
        console.print(f"  run {run['index']}: {run['units']} {items} in {len(files)} files "
                      f"(~{run['expected_calls']} calls): {shown}")
    if estimate.error:
        console.print(f"dry run {estimate.status}: {estimate.error}")


def render(summary: dict[str, Any], estimate: PlanEstimate | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{summary['workspace']}[/bold]: {summary['files']} files ({summary['bytes']:,} bytes), "
        f"{summary['skipped']} skipped, [bold]{summary['units']}[/bold] work units, "
        f"~{summary['tokens']:,} tokens (estimate; unit limit {summary['max_unit_tokens']})"
    )
    if summary["by_language"]:
        table = Table(title="Work units by language", title_justify="left")
        table.add_column("language")
        table.add_column("files", justify="right")
        table.add_column("units", justify="right")
        table.add_column("tokens (est.)", justify="right")
        for language, entry in summary["by_language"].items():
            table.add_row(language, str(entry["files"]), str(entry["units"]), f"{entry['tokens']:,}")
        console.print(table)
    if summary["skipped_by_reason"]:
        table = Table(title="Skipped", title_justify="left")
        table.add_column("reason")
        table.add_column("count", justify="right")
        table.add_column("examples")
        detail = defaultdict(list)
        for item in summary["skipped_detail"]:
            detail[item["reason"].split(" (", 1)[0]].append(item)
        for reason, paths in summary["skipped_by_reason"].items():
            examples = detail[reason][:3]
            shown = ", ".join(
                e["path"] + (f" ({e['reason'].split(' (', 1)[1]}" if " (" in e["reason"] else "") for e in examples
            )
            more = f", +{len(paths) - len(examples)} more" if len(paths) > len(examples) else ""
            table.add_row(reason, str(len(paths)), shown + more)
        console.print(table)
    if summary["largest_units"]:
        table = Table(title="Largest units", title_justify="left")
        table.add_column("tokens", justify="right")
        table.add_column("where")
        table.add_column("symbol")
        for unit in summary["largest_units"]:
            table.add_row(str(unit["tokens"]), f"{unit['path']}:{unit['start_line'] + 1}-{unit['end_line'] + 1}",
                          unit["symbol"] or "(top level)")
        console.print(table)
    if estimate is not None:
        if estimate.counts_verification:
            render_forecast(console, estimate)
        else:
            console.print(
                f"[bold]workflow {estimate.workflow}[/bold] (estimate, no model called): "
                f"{estimate.calls} agent calls over {estimate.units} units, "
                f"~{estimate.tokens:,} tokens, worst case ${estimate.cost_usd:.2f}"
                + (f"; dry run {estimate.status}: {estimate.error}" if estimate.error else "")
            )
        excluded = estimate.excluded
        if excluded:
            by_reason: dict[str, list[str]] = defaultdict(list)
            for item in excluded:
                by_reason[item["reason"].split(" (", 1)[0]].append(item["path"])
            table = Table(title=f"Left out of {estimate.workflow} (source code only)", title_justify="left")
            table.add_column("reason")
            table.add_column("count", justify="right")
            table.add_column("examples")
            for reason, paths in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
                table.add_row(reason, str(len(paths)), ", ".join(paths[:3]) + (f", +{len(paths) - 3} more" if len(paths) > 3 else ""))
            console.print(table)
    cache = summary["cache"]
    console.print(f"[dim]units cache: {cache['hits']} files reused, {cache['misses']} split[/dim]")
