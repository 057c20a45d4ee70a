"""Runs one workflow script to its end: sandbox + API + scheduler + journal + budget.

`RunDriver.execute()` is what the worker process calls (worker.py); tests call it
in-process with a fake provider. It never decides *where* it runs: the Engine puts it in
a worker process so that a runaway script can be killed and the language server stays
responsive (see worker.py).

Outcome: "completed"; "completed with failures" when agent calls failed (the error names
them); "budget_reached" when the budget or the paid-call cap stopped dispatch (whatever
the script did with the refused calls; resumable with a larger budget); "failed" when the
script raised (the error names its line); "paused"/"cancelled" when stopped. Script code
runs under one run-wide ScriptLock (api.py), held by the main thread from the script's
first line and released while it waits on the API. `plan()` is the dry run behind `Engine.plan`: the same script, a counting
provider that answers every call with the smallest schema-conforming placeholder, no
journal, no findings stored, no model called.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from refute.analysis.plan import plan_workspace
from refute.orchestration.calls import pricing
from refute.orchestration.sandbox import restricted as sandbox
from refute.orchestration.runtime.api import ScriptLock, UnitsFn, WorkflowAPI
from refute.orchestration.calls.budget import BudgetLedger
from refute.orchestration.errors import AgentError, RunInterrupted
from refute.orchestration.store.journal import Journal
from refute.orchestration.model import (Budget, CallRequest, CallResult, PlanEstimate, RunInfo, RunStatus, Scope, Usage,
                                        stable_hash)
from refute.orchestration.providers.base import CallContext, Provider
from refute.orchestration.providers.scripted import input_tokens
from refute.orchestration.calls.scheduler import BATCH_CALL_TIMEOUT_S, Scheduler, in_flight_limit
from refute.orchestration.verification.schemas import placeholder
from refute.orchestration.sandbox.scripts import WorkflowSource, check_workflow_args, resolve
from refute.orchestration.settings import EngineSettings
from refute.orchestration.store.leases import CallLeases

MAX_FAILURES_IN_MESSAGE = 10


def state_dir_of(workspace: Path) -> Path:
    return Path(workspace) / ".refute" / "state"


def analysis_units(workspace: Path, settings: EngineSettings,
                   on_skipped: Callable[[list[dict[str, str]]], None] | None = None) -> UnitsFn:
    """Work units from refute.analysis.plan (cached by content hash under the state dir).
    `on_skipped` hears the files of the scope that got no unit, with the reason (binary,
    too large, not UTF-8, secret, ...): a run must say so, not "complete" silently."""

    def units(scope: Scope, max_tokens: int) -> list[dict[str, Any]]:
        # The default cache dir is the one `refute plan` uses, so both share one cache.
        result = plan_workspace(
            Path(workspace), paths=tuple(scope.paths), selection=scope.selection, max_unit_tokens=max_tokens,
            extra_ignores=tuple(settings.excludes), never_send=settings.never_send, code_only=scope.code_only,
            include_tests=scope.include_tests, since=scope.since,
        )
        if on_skipped is not None and result.skipped:
            on_skipped([{"path": s.path, "reason": s.reason} for s in result.skipped])
        return [u.to_dict() for u in result.units]

    return units


@dataclass
class Outcome:
    status: str
    error: str | None = None
    result: Any = None
    failures: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunDriver:
    def __init__(
        self,
        *,
        workspace: Path,
        settings: EngineSettings,
        run: RunInfo,
        source: WorkflowSource,
        provider: Provider,
        emit: Callable[..., None],
        units_fn: UnitsFn | None = None,
        journal: Journal | None = None,
        dry_run: bool = False,
        spent_tokens: int = 0,
        spent_usd: float = 0.0,
        max_concurrency: int | None = None,
        counted_keys: set[str] | None = None,
    ):
        self.workspace = Path(workspace)
        self.settings = settings
        self.run = run
        self.source = source
        self.provider = provider
        self._emit_raw = emit
        self.dry_run = dry_run
        state_dir = state_dir_of(self.workspace)
        self.journal = None if dry_run else (journal or Journal(state_dir))
        self.ledger = BudgetLedger(Budget() if dry_run else run.budget, spent_tokens=spent_tokens, spent_usd=spent_usd)
        batch = bool(settings.batch) and not dry_run  # a plan only counts; nothing waits on a batch
        limit = in_flight_limit(settings, max_concurrency) if batch else (max_concurrency or settings.max_concurrency)
        self.scheduler = Scheduler(
            provider=provider, journal=self.journal, ledger=self.ledger, emit=self.emit, run_id=run.id,
            workspace=str(self.workspace), max_concurrency=limit, max_calls=settings.max_calls,
            call_timeout_s=settings.call_timeout_s, batch=batch,
            leases=self._leases(state_dir, run.id, settings, batch),
        )
        self.scheduler.counted_keys = counted_keys
        self.script_lock = ScriptLock()  # run-wide: the top-level script and a nested workflow share it
        self._skipped_seen: set[str] = set()
        self._skipped_lock = threading.Lock()
        self.units_fn = units_fn or analysis_units(self.workspace, settings, on_skipped=self._files_skipped)
        self._state_dir = state_dir
        self._nested_depth = 0
        self._nested_lock = threading.Lock()

    def _leases(self, state_dir: Path, run_id: str, settings: EngineSettings, batch: bool) -> CallLeases | None:
        """Leases on in-flight calls, shared with other processes on this workspace (none
        for a dry run: a plan pays nothing). A lease outlives the worst call (retries
        included) before another process may call it stale."""
        if self.dry_run:
            return None
        ttl = BATCH_CALL_TIMEOUT_S * 1.1 if batch else max(600.0, settings.call_timeout_s * 10)
        return CallLeases(state_dir, run_id=run_id, ttl_s=ttl)

    def emit(self, type_: str, **fields: Any) -> None:
        self._emit_raw(type_, **fields)

    def _files_skipped(self, files: list[dict[str, str]]) -> None:
        """One `files_skipped` event per file and run (units() may be asked many times);
        the report and the editor name them."""
        with self._skipped_lock:
            new = [f for f in files if f["path"] not in self._skipped_seen]
            self._skipped_seen.update(f["path"] for f in new)
        if new and not self.dry_run:
            self.emit("files_skipped", files=new)

    def stop(self, reason: str) -> None:
        self.scheduler.stop(reason)

    # --- running --------------------------------------------------------------------------

    def _api(self, workflow_name: str, args: dict[str, Any], nested: bool) -> WorkflowAPI:
        return WorkflowAPI(
            scheduler=self.scheduler, settings=self.settings, workspace=self.workspace, state_dir=self._state_dir,
            run_id=self.run.id, workflow=workflow_name, scope=self.run.scope, args=args,
            provider_name=getattr(self.provider, "name", "unknown"), emit=self.emit, units_fn=self.units_fn,
            run_nested=None if nested else self._run_nested, dry_run=self.dry_run, script_lock=self.script_lock,
        )

    def _load(self, source: WorkflowSource, api: WorkflowAPI) -> tuple[dict[str, Any], Callable[..., Any]]:
        code, problems = sandbox.compile_script(source.source, source.filename)
        if problems:
            text = "; ".join(f"line {p.line}: {p.message}" for p in problems[:5])
            raise ScriptError(f"{source.display}: {text}")
        glb = sandbox.make_globals(api.namespace(), api.log)
        exec(code, glb)  # noqa: S102 - restricted code object in sandbox globals
        meta = glb.get("meta")
        main = glb.get("main")
        if not isinstance(meta, dict):
            raise ScriptError(f"{source.display}: no `meta` dict at module level")
        if not callable(main):
            raise ScriptError(f"{source.display}: no `main(args)` function at module level")
        return meta, main

    def _run_nested(self, name: str, args: dict[str, Any]) -> Any:
        source = resolve(self.workspace, name)
        self.emit("log", message=f"workflow {name} ({source.origin}) starts as a nested workflow")
        api = self._api(source.name, {}, nested=True)
        try:
            meta, main = self._load(source, api)
            check_workflow_args(meta, args, source.name)
            api.args.update(dict(meta.get("args") or {}))
            api.args.update(args)
            return main(api.args)
        finally:
            api.close()

    def execute(self) -> Outcome:
        self.emit("run_status", status=RunStatus.RUNNING.value, error=None, started_by=self.run.started_by,
                  workflow=self.run.workflow, script_hash=self.run.script_hash, provider=getattr(self.provider, "name", ""))
        outcome = self._execute()
        self.scheduler.emit_progress()
        self.emit("run_status", status=outcome.status, error=outcome.error, result=outcome.result,
                  failures=outcome.failures)
        return outcome

    def _execute(self) -> Outcome:
        api = self._api(self.source.name, {}, nested=False)
        try:
            try:
                with self.script_lock.held():
                    meta, main = self._load(self.source, api)
                    api.args.update(dict(meta.get("args") or {}))
                    api.args.update(self.run.args or {})
                    result = main(api.args)
            except RunInterrupted as exc:
                status = RunStatus.CANCELLED if exc.reason == "cancel" else RunStatus.PAUSED
                return Outcome(status.value, f"{status.value} by request")
            except ScriptError as exc:
                return Outcome(RunStatus.FAILED.value, str(exc), failures=self._failures())
            except AgentError as exc:
                # A budget or call-cap refusal the script did not catch ends the run as
                # budget_reached (an outcome); any other failed call fails the script.
                reached = self._limit_reached()
                if reached is not None:
                    return reached
                return Outcome(RunStatus.FAILED.value, sandbox.describe(exc, self.source.filename, self.source.display),
                               failures=self._failures())
            except Exception as exc:  # the script's own error, named by its line
                return Outcome(RunStatus.FAILED.value, sandbox.describe(exc, self.source.filename, self.source.display),
                               failures=self._failures())
            if self.scheduler.stop_event.is_set():
                status = RunStatus.CANCELLED if self.scheduler.stop_reason == "cancel" else RunStatus.PAUSED
                return Outcome(status.value, f"{status.value} by request")
            failures = self._failures()
            safe_result = _json_ready(result)
            reached = self._limit_reached()
            if reached is not None:
                return reached
            if failures:
                shown = "; ".join(f"{f['label'] or f['key'][:12]}: {f['error']}" for f in failures[:MAX_FAILURES_IN_MESSAGE])
                more = f" (and {len(failures) - MAX_FAILURES_IN_MESSAGE} more)" if len(failures) > MAX_FAILURES_IN_MESSAGE else ""
                return Outcome(RunStatus.COMPLETED_WITH_FAILURES.value,
                               f"{len(failures)} agent call(s) failed: {shown}{more}", safe_result, failures)
            return Outcome(RunStatus.COMPLETED.value, None, safe_result)
        finally:
            api.close()

    def _limit_reached(self) -> Outcome | None:
        why = self.scheduler.limit_reached
        if why is None:
            return None
        failures = self._failures()
        not_made = self.scheduler.calls_not_made
        extra = f"; {len(failures)} call(s) failed" if failures else ""
        return Outcome(RunStatus.BUDGET_REACHED.value,
                       f"{why}; {not_made} call(s) not made{extra}. Continue with: refute resume {self.run.id} "
                       "--budget-tokens N --budget-usd X (finished calls are not paid twice)",
                       failures=failures)

    def _failures(self) -> list[dict[str, Any]]:
        return [f.to_dict() for f in self.scheduler.failures]

    def close(self) -> None:
        self.scheduler.close()
        if self.scheduler.leases is not None:
            self.scheduler.leases.close()
        if self.journal is not None:
            self.journal.close()


@dataclass
class InProcessRun:
    outcome: Outcome
    events: list[tuple[str, dict[str, Any]]]  # (type, fields) in the order emitted
    scheduler: Scheduler  # its stats: paid calls, replays, failures


def run_in_process(workspace: Path, workflow: str, provider: Provider, *, run_id: str = "run1",
                   args: dict[str, Any] | None = None, budget: Budget | None = None,
                   settings: EngineSettings | None = None, units_fn: UnitsFn | None = None) -> InProcessRun:
    """Run `workflow` (bundled or the workspace's) to its end in this process: the driver a
    worker runs, without the worker process or the run store. For benchmarks and tests that
    measure the engine itself; users' runs always go through Engine.start."""
    source = resolve(workspace, workflow)
    run = RunInfo(id=run_id, workflow=workflow, script_hash=source.hash, args=dict(args or {}), scope=Scope(),
                  status=RunStatus.QUEUED.value, budget=budget or Budget(), provider=getattr(provider, "name", "unknown"))
    events: list[tuple[str, dict[str, Any]]] = []
    driver = RunDriver(workspace=workspace, settings=settings or EngineSettings(provider="scripted"), run=run,
                       source=source, provider=provider, emit=lambda kind, **fields: events.append((kind, fields)),
                       units_fn=units_fn)
    try:
        return InProcessRun(driver.execute(), events, driver.scheduler)
    finally:
        driver.close()


class ScriptError(Exception):
    """The script cannot start: compile errors, missing meta/main."""


def _json_ready(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


# --- plan: a dry run with placeholder answers ---------------------------------------------


class CountingProvider:
    """Answers every call with the smallest value its schema allows and counts what the
    call would cost at worst. Never calls a model."""

    name = "plan"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0
        self.input_tokens = 0
        self.max_output_tokens = 0
        self.worst_usd = 0.0
        self.by_model: dict[str, dict[str, Any]] = {}
        self.contexts: set[str] = set()
        self.finders: list[Any] = []  # forecast.FinderCall per call with role "finder"
        self.finder_max_output = 0
        self.finder_worst_usd = 0.0

    def worst_case(self, request: CallRequest) -> tuple[int, float]:
        return 0, 0.0  # the dry run has no budget

    def call(self, request: CallRequest, ctx: CallContext) -> CallResult:
        plain, context = input_tokens(request)
        usd = pricing.worst_case_usd(request.model, plain + context, request.max_tokens)
        with self._lock:
            self.calls += 1
            self.input_tokens += plain + context
            self.max_output_tokens += request.max_tokens
            self.worst_usd += usd
            row = self.by_model.setdefault(request.model, {"calls": 0, "input_tokens": 0, "max_output_tokens": 0,
                                                           "cost_usd": 0.0})
            row["calls"] += 1
            row["input_tokens"] += plain + context
            row["max_output_tokens"] += request.max_tokens
            row["cost_usd"] += usd
            if request.context:
                self.contexts.add(request.context)
            if request.role == "finder":
                from refute.orchestration.calls.forecast import FinderCall

                self.finder_max_output += request.max_tokens
                self.finder_worst_usd += usd
                self.finders.append(FinderCall(_unit_path(request), request.unit_hash, request.model, context, plain,
                                               stable_hash(request.model, request.system, request.context)
                                               if request.context else None))
        data = placeholder(request.schema) if request.schema else None
        text = json.dumps(data) if request.schema else "(placeholder answer: plan makes no model calls)"
        return CallResult(text=text, data=data, usage=Usage(), model=request.model, provider=self.name)

    def close(self) -> None:
        return None


def plan(*, workspace: Path, settings: EngineSettings, source: WorkflowSource, scope: Scope, args: dict[str, Any],
         units_fn: UnitsFn | None = None) -> PlanEstimate:
    for role in ("default", "finder", "refuter", "editor"):
        pricing.resolve(settings.model_for(role))  # unknown model: a clear error before anything runs
    provider = CountingProvider()
    run = RunInfo(id="plan", workflow=source.name, script_hash=source.hash, args=dict(args or {}), scope=scope,
                  status=RunStatus.RUNNING, budget=Budget(), provider="plan")
    base_units = units_fn or analysis_units(Path(workspace), settings)
    seen_units: dict[str, tuple[str, str | None]] = {}  # in the order the script asked for them
    scopes_asked: list[tuple[Scope, int]] = []

    def counting_units(s: Scope, max_tokens: int) -> list[dict[str, Any]]:
        found = base_units(s, max_tokens)
        scopes_asked.append((s, max_tokens))
        for u in found:
            seen_units.setdefault(str(u.get("id") or u.get("content_hash") or id(u)),
                                  (str(u.get("path") or ""), u.get("content_hash")))
        return found

    driver = RunDriver(workspace=workspace, settings=settings, run=run, source=source, provider=provider,
                       emit=lambda *a, **k: None, units_fn=counting_units, dry_run=True, max_concurrency=16)
    driver.scheduler.call_timeout_s = 30.0
    # The dry run counts every call the scope needs; the forecast splits them into runs.
    driver.scheduler.max_calls = PLAN_MAX_CALLS
    original_api = driver._api
    tracking: list[WorkflowAPI] = []

    def tracking_api(*a: Any, **k: Any) -> WorkflowAPI:
        api = original_api(*a, **k)
        tracking.append(api)  # the top-level API and any nested workflow's
        return api

    driver._api = tracking_api  # type: ignore[method-assign]
    outcome = driver._execute()
    reported = sum(api.reported for api in tracking)
    edits = sum(api.edits_proposed for api in tracking)
    notes = [
        "estimate: no model was called; every answer was a minimal placeholder for its schema, so "
        "branches that depend on answers (e.g. one refutation per finding) are not counted",
        "tokens and cost are upper bounds: full max_tokens of output, input priced as cache writes",
    ]
    if provider.contexts:
        notes.append(f"{len(provider.contexts)} shared context prefix(es): real cost is lower with prompt caching")
    if outcome.status == RunStatus.COMPLETED_WITH_FAILURES.value:
        notes.append(f"some calls would fail: {outcome.error}")
    from refute.orchestration.calls.forecast import calibrated_rate, forecast, pick_rate

    top_args = tracking[0].args if tracking else dict(args or {})
    # The fan-out the dry run took (fanout.py's rule, on the same scope) picks the calibration.
    record = (tracking[0].coverage_record if tracking else None) or {}
    rate = pick_rate(dict(args or {}), top_args.get("candidate_rate"),
                     calibrated_rate(state_dir_of(Path(workspace)), source.name, record.get("fan_out") or "units"))
    # Calls that are not finders (a threat model...) enter the forecast as the dry run
    # counted them: worst-case output, priced as cache writes (an upper bound).
    prediction = forecast(
        base_calls=provider.calls - len(provider.finders),
        base_input_tokens=provider.input_tokens - sum(f.context_tokens + f.plain_tokens for f in provider.finders),
        base_output_tokens=provider.max_output_tokens - provider.finder_max_output,
        base_usd=max(provider.worst_usd - provider.finder_worst_usd, 0.0), finders=provider.finders,
        unit_order=list(seen_units.values()), rate=rate, refuters=int(top_args.get("refuters") or 2),
        refuter_model=settings.model_for("refuter"), max_calls=settings.max_calls,
        files_of={h: paths for api in tracking for h, paths in api.component_files.items()},
    )
    if provider.finders:
        notes[0] = ("estimate: no model was called; the dry run counted every call that does not depend on "
                    "answers, and verification is added from a candidate rate (fields candidate_rate, forecast)")
        notes.append(
            f"verification counted: {rate.value:g} candidates per finder call ({rate.source}"
            + (f", {rate.runs} run(s), {rate.items} items" if rate.source == "calibrated" else "")
            + f"); expected {prediction.cases['expected']['calls']:,} calls in "
            f"{prediction.runs_needed['expected']} run(s) of at most {settings.max_calls:,}")
    excluded = _excluded(workspace, settings, scopes_asked)
    return PlanEstimate(
        workflow=source.name, units=len(seen_units), calls=provider.calls, input_tokens=provider.input_tokens,
        max_output_tokens=provider.max_output_tokens, tokens=provider.input_tokens + provider.max_output_tokens,
        cost_usd=round(provider.worst_usd, 6), by_model=provider.by_model, findings_reported=reported,
        edits_proposed=edits, status=outcome.status, error=outcome.error, notes=notes, prices_taken=pricing.taken(),
        candidate_rate=rate.to_dict(), forecast=prediction.to_dict(), excluded=excluded, max_calls=settings.max_calls,
        fan_out=str(record.get("fan_out") or ""),
    )


PLAN_MAX_CALLS = 10_000_000  # the dry run is never capped: it counts what the scope needs


def _unit_path(request: CallRequest) -> str:
    label = request.label or ""
    _, _, tail = label.partition(" ")  # "audit:find src/x.py" -> "src/x.py"
    return tail or label


def _excluded(workspace: Path, settings: EngineSettings, scopes: list[tuple[Scope, int]]) -> list[dict[str, str]]:
    """Files a code-only scope left out, with the reason (what `plan` lists)."""
    out: dict[str, str] = {}
    for scope, max_tokens in scopes:
        if not scope.code_only:
            continue
        try:
            found = plan_workspace(Path(workspace), paths=tuple(scope.paths), max_unit_tokens=max_tokens,
                                   extra_ignores=tuple(settings.excludes), code_only=True,
                                   include_tests=scope.include_tests, since=scope.since)
        except Exception:  # the units call itself already succeeded; the listing is extra
            continue
        for skipped in found.skipped:
            out.setdefault(skipped.path, skipped.reason)
    return [{"path": p, "reason": r} for p, r in sorted(out.items())]


__all__ = ["RunDriver", "Outcome", "PlanEstimate", "plan", "CountingProvider", "state_dir_of", "analysis_units"]
