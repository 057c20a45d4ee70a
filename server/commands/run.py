"""`refute run WORKFLOW [PATH]`: run a workflow with a live progress display.

Exit codes: 0 completed; 3 completed with failures (some agent calls failed; the run
says which); 4 paused (Ctrl-C pauses: `refute resume RUN` continues without paying twice);
5 budget reached (the token/USD budget or the paid-call cap stopped dispatch: `refute
resume RUN --budget-tokens N --budget-usd X` continues with a larger budget);
1 failed or cancelled; 2 the run could not start (bad script, provider not configured,
refused by the admin policy, or above the approval threshold without a yes: on a
terminal it asks; in CI pass --yes).

`--continue RUN` covers what RUN left (its coverage record says what and why);
`--since REF` audits only what changed since a git ref.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from refute.orchestration.model import RunEvent, RunStatus
from refute.server.commands._options import (
    UsageError,
    add_budget_options,
    concurrency,
    existing_folder,
    key_value,
    non_negative_float,
    workspace_path,
)

EXIT_CODES = {RunStatus.COMPLETED: 0, RunStatus.COMPLETED_WITH_FAILURES: 3, RunStatus.PAUSED: 4,
              RunStatus.BUDGET_REACHED: 5, RunStatus.FAILED: 1, RunStatus.CANCELLED: 1}


def register(subparsers) -> None:
    parser = subparsers.add_parser("run", help="run a workflow (live progress; Ctrl-C pauses)", description=__doc__)
    parser.add_argument("workflow", help="workflow name (bundled or .refute/workflows/NAME.py) or path to a .py file")
    parser.add_argument("path", nargs="*", help="files or folders to look at (default: the whole workspace)")
    parser.add_argument("--arg", action="append", default=[], metavar="K=V", type=key_value,
                        help="workflow argument (V is parsed as JSON when it can be: --arg refuters=3)")
    add_budget_options(parser)
    parser.add_argument("--continue", dest="continue_run", metavar="RUN",
                        help="cover what RUN left (same workflow, scope and arguments); units already audited at "
                             "the same content are skipped, unverified candidates are verified")
    parser.add_argument("--since", metavar="REF",
                        help="only what changed since a git ref: changed files, and in them the units covering "
                             "changed lines (pre-merge and CI)")
    parser.add_argument("--batch", action="store_true",
                        help="send calls through the Message Batches API: half price, results within hours "
                             "(at most 24 h); for runs that can wait")
    parser.add_argument("--check", metavar="CMD",
                        help="migrations: the project's own check, e.g. 'python -m py_compile {files}'; runs on a "
                             "temporary git worktree holding each proposed edit ({files}: the edited paths). "
                             "The only way workspace code runs; never without this option")
    parser.add_argument("--check-timeout", type=non_negative_float, default=None, metavar="S",
                        help="time limit of one --check run in seconds (default 300)")
    parser.add_argument("--guide", metavar="FILE",
                        help="migrations: use this migration guide (e.g. one a survey wrote and you edited) "
                             "instead of surveying again")
    parser.add_argument("--yes", "-y", action="store_true",
                        help="approve a run whose plan is above the approval threshold without asking (CI)")
    add_common(parser)
    parser.set_defaults(func=handle)


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", default=".", type=existing_folder,
                        help="workspace root (default: the current folder)")
    parser.add_argument("--max-concurrency", type=concurrency, help="agent calls in flight (1 to 16)")
    parser.add_argument("--provider", choices=["anthropic", "openai", "local", "scripted"],
                        help="model provider: anthropic; openai (any OpenAI-compatible endpoint: Ollama, vLLM, "
                             "llama-server, LM Studio, LiteLLM); local (a small demo model in-process, no key); "
                             "scripted (test answers)")
    parser.add_argument("--base-url", metavar="URL",
                        help="provider openai: the endpoint's /v1 address, e.g. http://127.0.0.1:11434/v1")
    parser.add_argument("--model", metavar="NAME", help="provider openai: the model for every role")
    parser.add_argument("--scripted-fixture", metavar="F",
                        help="scripted provider: a JSON fixture or package.module:function / file.py:function")
    parser.add_argument("--scripted-latency", type=non_negative_float, metavar="S", help="scripted provider: seconds per call")
    parser.add_argument("--json", action="store_true", help="print the final run as JSON on stdout")


def make_engine(args: argparse.Namespace):
    from refute.orchestration.engine import Engine

    return Engine(Path(args.workspace), settings_from_args(args))


def settings_from_args(args: argparse.Namespace):
    """REFUTE_* environment variables, then the flags of `add_common` (and run's own)."""
    from refute.orchestration.settings import EngineSettings

    settings = EngineSettings.from_env()  # SettingsError (exit 2) names a bad REFUTE_* variable
    changes: dict[str, Any] = {}
    if args.provider:
        changes["provider"] = args.provider
    if getattr(args, "base_url", None):
        changes["openai_base_url"] = args.base_url
        changes.setdefault("provider", "openai")
    if getattr(args, "model", None):
        changes["openai_model"] = args.model
    if args.scripted_fixture:
        changes["scripted_fixture"] = args.scripted_fixture
        changes.setdefault("provider", "scripted")
    if args.scripted_latency is not None:
        changes["scripted_latency_s"] = args.scripted_latency
    if args.max_concurrency:
        changes["max_concurrency"] = args.max_concurrency
    if getattr(args, "budget_tokens", None) is not None:
        changes["budget_tokens"] = args.budget_tokens
    if getattr(args, "budget_usd", None) is not None:
        changes["budget_usd"] = args.budget_usd
    if getattr(args, "batch", False):  # only `refute run` has the flag; REFUTE_BATCH=1 works too
        changes["batch"] = True
    if changes:
        settings, _ = settings.updated(changes)
    return settings


def handle(args: argparse.Namespace) -> int:
    from refute.orchestration.model import Scope

    paths = [workspace_path(Path(args.workspace).resolve(), p) for p in args.path]  # UsageError: exit 2
    engine = make_engine(args)
    workspace = engine.workspace
    if args.continue_run and (paths or args.since or args.arg):
        print("refute run: --continue RUN takes RUN's scope and arguments; drop PATH, --since and --arg",
              file=sys.stderr)
        engine.close()
        return 2
    if args.since:
        from refute.analysis.changes import ChangesError, changed_since

        try:
            changed_since(workspace, args.since)  # a bad ref is a usage error, before anything starts
        except ChangesError as exc:
            print(f"refute run: --since: {exc}", file=sys.stderr)
            engine.close()
            return 2
    from refute.server.commands._approval import approve

    try:
        if args.continue_run:
            run_id = engine.continue_run(args.continue_run, workflow=args.workflow, started_by=f"cli:{_who()}")
        else:
            scope = Scope(paths, since=args.since)
            workflow_args = dict(args.arg)
            refusal = approve(engine, args.workflow, scope, workflow_args, yes=args.yes)
            if refusal:
                print(f"refute run: {refusal}", file=sys.stderr)
                engine.close()
                return 2
            run_id = engine.start(args.workflow, scope=scope, args=workflow_args,
                                  started_by=f"cli:{_who()}", **migration_options(args))
    except BaseException:  # a refusal is one clear line (server/cli.py); the engine closes either way
        engine.close()
        raise
    return follow(engine, run_id, as_json=args.json)


def migration_options(args: argparse.Namespace) -> dict[str, Any]:
    """`check` and `guide` for Engine.start from --check/--check-timeout/--guide (errors
    name the option; the engine checks the rest: a git repository, the time limit)."""
    from refute.orchestration.store.guide import read_guide_file
    from refute.orchestration.verification.project_check import DEFAULT_TIMEOUT_S

    options: dict[str, Any] = {}
    if getattr(args, "check_timeout", None) is not None and not getattr(args, "check", None):
        raise UsageError("--check-timeout needs --check CMD")
    if getattr(args, "check", None) is not None:
        timeout = args.check_timeout if args.check_timeout is not None else DEFAULT_TIMEOUT_S
        options["check"] = {"command": args.check, "timeout_s": timeout}
    if getattr(args, "guide", None):
        options["guide"] = read_guide_file(Path(args.guide))
    return options


def follow(engine, run_id: str, *, as_json: bool) -> int:
    """Show a run's progress until it ends; Ctrl-C (or SIGTERM) pauses it."""
    display = Progress(run_id, live=sys.stderr.isatty() and not as_json)
    unsubscribe = engine.subscribe(display.on_event, run_id)
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        display.start()
        try:
            info = engine.wait(run_id)
        except KeyboardInterrupt:
            print(f"\nrefute: pausing run {run_id} (in-flight calls finish first)...", file=sys.stderr)
            engine.pause(run_id)
            info = engine.wait(run_id, timeout=30)
    finally:
        display.stop()
        unsubscribe()
        signal.signal(signal.SIGTERM, previous)
        engine.close()
    summary(info, as_json)
    return EXIT_CODES.get(info.status, 1)


def summary(info, as_json: bool) -> None:
    if as_json:
        print(json.dumps(info.to_dict(), indent=2, default=str))
        return
    out = sys.stderr if not sys.stdout.isatty() else sys.stdout
    print(f"run {info.id}: {info.status}  ({info.calls_done} calls, {info.calls_replayed} replayed, "
          f"{info.calls_failed} failed, {info.usage.total_tokens:,} tokens, ${info.cost_usd:.4f})", file=out)
    from refute.orchestration.providers.base import DEMO_LABELS

    if info.provider in DEMO_LABELS:  # a demo's findings must not pass for a real audit
        print(f"  provider: {DEMO_LABELS[info.provider]}", file=out)
    if info.error:
        print(f"  {info.error}", file=out)
    if info.status is RunStatus.PAUSED:
        print(f"  resume with: refute resume {info.id}", file=out)
    if info.status is RunStatus.BUDGET_REACHED:
        print(f"  continue with a larger budget: refute resume {info.id} --budget-tokens N --budget-usd X",
              file=out)
    result = info.result if isinstance(info.result, dict) else {}
    if "covered" in result and "complete" in result:
        print(f"  coverage: {result['covered']} units searched and verified, {result.get('not_covered', 0)} left"
              + ("" if result["complete"] else f"; continue with: refute run {info.workflow} --continue {info.id}"),
              file=out)


SKIPPED_SAID = 20  # skipped files named on the terminal per event


class Progress:
    """Live display (rich) on a terminal; plain lines otherwise. Both on stderr."""

    def __init__(self, run_id: str, *, live: bool):
        self.run_id = run_id
        self.live = live
        self.state: dict[str, Any] = {"phase": "", "calls_done": 0, "in_flight": 0, "calls_failed": 0,
                                      "calls_replayed": 0, "tokens": 0, "cost_usd": 0.0, "concurrency": 0,
                                      "findings": 0}
        self._lock = threading.Lock()
        self._live = None
        self._last_plain = 0.0

    def start(self) -> None:
        if self.live:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._render(), console=Console(stderr=True), refresh_per_second=4, transient=False)
            self._live.start()
        else:
            print(f"refute: run {self.run_id} started", file=sys.stderr, flush=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()

    def _line(self) -> str:
        s = self.state
        return (f"[{s['phase'] or '-'}] calls {s['calls_done']} done ({s['calls_replayed']} replayed), "
                f"{s['in_flight']} in flight, {s['calls_failed']} failed | {s['tokens']:,} tokens, "
                f"${s['cost_usd']:.4f} | concurrency {s['concurrency']} | findings {s['findings']}")

    def _render(self):
        from rich.text import Text

        return Text(f"refute {self.run_id}  " + self._line())

    def _say(self, text: str) -> None:
        if self._live is not None:
            self._live.console.print(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def on_event(self, run_event: RunEvent) -> None:
        kind, event = run_event.type, run_event.data
        with self._lock:
            if kind == "progress":
                for key in ("calls_done", "in_flight", "calls_failed", "calls_replayed", "tokens", "cost_usd",
                            "concurrency", "phase"):
                    if key in event:
                        self.state[key] = event[key]
            elif kind == "phase":
                self.state["phase"] = event.get("name", "")
                self._say(f"phase: {self.state['phase']}")
            elif kind == "finding":
                self.state["findings"] += 1
                f = event.get("finding") or {}
                line = (f.get("span") or {}).get("start_line", 0) + 1
                self._say(f"finding: {f.get('path')}:{line} [{f.get('severity')}] {f.get('title')}")
            elif kind == "call_failed":
                self._say(f"call failed: {event.get('label') or event.get('key', '')[:12]}: {event.get('error')}")
            elif kind == "files_skipped":  # not looked at: say so (`refute report` lists them all)
                for entry in (event.get("files") or [])[:SKIPPED_SAID]:
                    self._say(f"skipped: {entry.get('path')} ({entry.get('reason')})")
                if len(event.get("files") or []) > SKIPPED_SAID:
                    self._say(f"skipped: ... and {len(event['files']) - SKIPPED_SAID} more (see `refute report RUN`)")
            elif kind == "log":
                self._say(f"log: {event.get('message')}")
            elif kind == "check_finished":
                verdict = "passed" if event.get("ok") else ("timed out" if event.get("timed_out") else "failed")
                self._say(f"check {verdict}: {' '.join(event.get('files') or [])}")
            elif kind == "concurrency":
                self._say(f"concurrency -> {event.get('limit')} ({event.get('reason')})")
            if self._live is not None:
                self._live.update(self._render())
            elif kind == "progress" and time.monotonic() - self._last_plain > 2.0:
                self._last_plain = time.monotonic()
                self._say(self._line())


def _who() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
