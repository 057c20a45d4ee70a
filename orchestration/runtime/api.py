"""The workflow API: the only names a workflow script sees (besides safe builtins).

| name | does |
| --- | --- |
| units(scope=None, max_tokens=None) | work units of the run's scope (dicts with "text") |
| agent(prompt, *, unit, context, schema, model, role, label, tools, max_tokens, system, default) | one call |
| parallel(thunks) | run callables concurrently, wait for all, results in order |
| pipeline(items, *stages) | each item flows through the stages on its own: no stage barrier |
| refute / vote / converge | from refute.orchestration.verification.verify, bound to this API |
| report(finding) | check, anchor and publish a finding now |
| propose_edit(path, new_text=None, *, old, new, reason, reviews) | record a proposed edit |
| phase(name), log(msg), budget, args, workflow(name, args) | progress, logs, budget view, inputs, nesting |
| check_edit, run_check, load_guide, save_guide | migration primitives (verification/primitives.py) |
| check_candidate, cross_check, fan_out, search, survey_guide, migrate_files, outline, entry_points, file_texts, file_groups | the steps the bundled workflows share, built on the names above (script_primitives) |
| SCHEMAS | the built-in JSON schemas of verify.py (findings, finding, verdict, edit, review...), read-only |

`agent` fails loudly: a failed call raises AgentError into the script. `default=` makes
failure explicit: the default is returned and the failure is still recorded, so the run
ends "completed with failures". Budget, call-limit and spend-limit refusals always raise
(a default would only hide that the run cannot go on).

A failed call fails its item, not the run: in `parallel` and `pipeline` an item whose
thunk raised AgentError (its call failed, or the budget / call cap was reached) yields
None (Claude Code's contract); `parallel(thunks, raise_errors=True)` raises the first
error instead. Other exceptions are script bugs and always raise. The failed calls are
recorded, so the run ends "completed with failures" (exit 3) listing each one and why,
or "budget_reached" when the budget or the call cap stopped dispatch.

Script code runs one thread at a time (`ScriptLock`): a run-wide lock that a thread holds
while it runs script code and releases while it waits on the API (an agent call, the
end of a `parallel`). Scripts get JavaScript-like atomicity: `count = count + 1` or
`d[k] += 1` between two API calls never loses an update (a shared counter lost about
17,000 of 320,000 increments without it), and the calls still run 16 at a time.

Misuse names the function and its signature: `agent(prompt, {...})` says
"agent(prompt, *, unit=None, ...): ..." instead of Python's internal method name.

Threads: `parallel` and `pipeline` run thunks on a pool of task threads (tasks.py,
4 x the concurrency limit; in batch mode the in-flight limit + 64); a caller waiting for its batch runs that batch's unstarted
thunks itself, so nesting cannot deadlock. Provenance: each thread keeps the
keys of the last agent calls it made (a thunk starts with its parent's, and when
`parallel` returns, the keys its thunks made are added to the caller's); `report`
records them with the finding.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import inspect
import threading
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from refute.orchestration.calls import pricing
from refute.orchestration.errors import AgentError, BudgetExceeded, CallLimitExceeded, RunInterrupted
from refute.orchestration.model import CallRequest, ReviewState, Scope, stable_hash
from refute.orchestration.calls.scheduler import Scheduler, task_threads
from refute.orchestration.calls.redaction import redact, scrub
from refute.orchestration.settings import EngineSettings
from refute.orchestration.runtime.tasks import TaskPool

PROVENANCE_DEPTH = 20
COMPONENT_TOKENS = 24_000  # a component's code must fit the cached prefix of a researcher
MAX_LOG_CHARS = 10_000
_NO_DEFAULT = object()
_ALWAYS_RAISE = ("budget", "call_limit", "spend_limit")

UnitsFn = Callable[[Scope, int], list[dict[str, Any]]]


class ScriptLock:
    """One thread runs script code at a time (see the module docstring). Reentrant-safe
    for API use: `released()` only releases when the calling thread holds the lock (tests
    call the API without one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def acquire(self) -> None:
        self._lock.acquire()
        self._owner = threading.get_ident()

    def release(self) -> None:
        self._owner = None
        self._lock.release()

    @contextlib.contextmanager
    def held(self) -> Any:
        if self._owner == threading.get_ident():
            yield
            return
        self.acquire()
        try:
            yield
        finally:
            self.release()

    @contextlib.contextmanager
    def released(self) -> Any:
        if self._owner != threading.get_ident():
            yield
            return
        self.release()
        try:
            yield
        finally:
            self.acquire()


class BudgetView:
    """Live, read-only view of the run's budget: `budget.remaining_tokens`,
    `budget["usd"]["remaining"]`, `budget.tokens` ... (None means unlimited), and call
    capacity: `budget.limit_calls` (the paid-call cap), `budget.paid_calls`,
    `budget.remaining_calls` (replays are free and do not count)."""

    def __init__(self, view: Callable[[], dict[str, Any]], calls: Callable[[], dict[str, int]] | None = None):
        self._view = view
        self._calls = calls

    def _nested(self) -> dict[str, Any]:
        v = dict(self._view())
        if self._calls is not None:
            v["calls"] = self._calls()
        return v

    def _flat(self) -> dict[str, Any]:
        v = self._nested()
        flat: dict[str, Any] = dict(v)
        for unit, entries in v.items():  # tokens, usd, calls (limit/paid/remaining)
            for key, value in entries.items():
                flat[f"{key}_{unit}"] = value
        return flat

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        flat = self._flat()
        if name in flat:
            return flat[name]
        raise AttributeError(f"budget has no {name!r}; use one of {', '.join(sorted(flat))}")

    def __getitem__(self, key: str) -> Any:
        return self._flat()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._flat().get(key, default)

    def keys(self) -> list[str]:
        return sorted(self._flat())

    def to_dict(self) -> dict[str, Any]:
        return self._nested()

    def __repr__(self) -> str:
        return f"budget({self._nested()!r})"


class ReadOnlySchemas(dict):
    """`SCHEMAS` as a script sees it: a dict (json.dumps and `in` work) that refuses every
    change, and whose values are handed out as fresh deep copies, so a script that edits
    the schema it got (adds a property, say) changes its own copy, never the engine's."""

    def __init__(self, schemas: dict[str, Any]):
        super().__init__(copy.deepcopy(schemas))

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("SCHEMAS is read-only; copy a schema first: dict(SCHEMAS['verdict'])")

    __setitem__ = __delitem__ = __ior__ = update = setdefault = pop = popitem = clear = _refuse  # type: ignore

    def __getitem__(self, key: str) -> Any:
        try:
            return copy.deepcopy(dict.__getitem__(self, key))
        except KeyError:
            raise KeyError(f"SCHEMAS has no {key!r}; it has {', '.join(sorted(self))}") from None

    def __iter__(self) -> Any:
        # Defined in Python so dict(SCHEMAS) and {**SCHEMAS} go through __getitem__ (copies)
        # instead of CPython's fast path, which would share the stored values.
        return iter(list(dict.keys(self)))

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return self[key] if key in self else default

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self[key] for key in self]

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return [(key, self[key]) for key in self]

    def copy(self) -> dict[str, Any]:  # type: ignore[override]
        return {key: self[key] for key in self}

    def __copy__(self) -> dict[str, Any]:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return self.copy()

    def __reduce__(self) -> Any:
        return (dict, (self.copy(),))


def _schemas() -> ReadOnlySchemas:
    from refute.orchestration.verification.verify import SCHEMAS

    return ReadOnlySchemas(SCHEMAS)


class WorkflowAPI:
    def __init__(
        self,
        *,
        scheduler: Scheduler,
        settings: EngineSettings,
        workspace: Path,
        state_dir: Path,
        run_id: str,
        workflow: str,
        scope: Scope,
        args: dict[str, Any],
        provider_name: str,
        emit: Callable[..., None],
        units_fn: UnitsFn,
        run_nested: Callable[[str, dict[str, Any]], Any] | None = None,
        dry_run: bool = False,
        task_slots: int | None = None,
        script_lock: ScriptLock | None = None,
    ):
        self.scheduler = scheduler
        self.settings = settings
        self.workspace = Path(workspace)
        self.state_dir = Path(state_dir)
        self.run_id = run_id
        self.workflow_name = workflow
        self.scope = scope
        self.args = args
        self.provider_name = provider_name
        self.emit = emit
        self._units_fn = units_fn
        self._run_nested = run_nested
        self.dry_run = dry_run
        self.budget = BudgetView(scheduler.ledger.view, self._call_capacity)
        self.script_lock = script_lock or ScriptLock()
        self._local = threading.local()
        self._pool = TaskPool(task_slots or task_threads(scheduler.limiter.maximum, scheduler.batch))
        self._units_cache: dict[str, list[dict[str, Any]]] = {}
        self._stores_lock = threading.Lock()
        self._findings_store: Any = None
        self._edits_store: Any = None
        self._ledger: Any = None
        self._deduper: Any = None
        self.coverage_record: dict[str, Any] | None = None
        self.component_files: dict[str, list[str]] = {}  # content hash -> paths of the components handed out
        self.reported = 0
        self.dropped = 0
        self.edits_proposed = 0
        from refute.orchestration.verification.primitives import MigrationPrimitives

        self.migration = MigrationPrimitives(workspace=self.workspace, state_dir=self.state_dir, run_id=run_id,
                                             dry_run=dry_run, emit=emit)
        scheduler.on_call_finished = self._remember_key

    # --- names for the script ------------------------------------------------------------

    def namespace(self) -> dict[str, Any]:
        functions = {
            "units": self.units, "agent": self.agent, "parallel": self.parallel, "pipeline": self.pipeline,
            "refute": self.refute, "vote": self.vote, "converge": self.converge, "report": self.report,
            "propose_edit": self.propose_edit, "locate": self.locate, "phase": self.phase, "log": self.log,
            "workflow": self.workflow, "components": self.components, "uncovered": self.uncovered,
            "mark_covered": self.mark_covered, "record_coverage": self.record_coverage, "dedup": self.dedup,
            "sweep": self.sweep,
        }
        names = {
            **{name: _checked_call(name, fn) for name, fn in functions.items()},
            "budget": self.budget,
            "args": self.args, "SCHEMAS": _schemas(),
            "AgentError": AgentError, "BudgetExceeded": BudgetExceeded, "CallLimitExceeded": CallLimitExceeded,
            **self.migration.names(),
        }
        names.update({name: _checked_call(name, fn) for name, fn in script_primitives(names).items()})
        return names

    def _call_capacity(self) -> dict[str, int]:
        s = self.scheduler
        return {"limit": s.max_calls, "paid": s.stats.paid_calls, "remaining": max(s.max_calls - s.stats.paid_calls, 0)}

    # --- provenance ------------------------------------------------------------------------

    def _recent(self) -> deque:
        recent = getattr(self._local, "recent", None)
        if recent is None:
            recent = self._local.recent = deque(maxlen=PROVENANCE_DEPTH)
        return recent

    def _remember_key(self, key: str) -> None:
        self._remember_keys((key,))

    def _remember_keys(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        self._recent().extend(keys)
        made = getattr(self._local, "made", None)
        if made is not None:  # inside a thunk: its parallel() caller inherits these too
            made.extend(keys)

    # --- units -------------------------------------------------------------------------------

    def units(self, scope: Any = None, max_tokens: int | None = None, code_only: bool = False,
              include_tests: bool = False) -> list[dict[str, Any]]:
        """`code_only`: leave out docs, data, config and (unless `include_tests`) tests;
        `plan` lists each with its reason (analysis/source_kinds.py)."""
        effective = self._narrow(scope)
        if code_only or include_tests:
            effective = dataclasses.replace(effective, code_only=effective.code_only or bool(code_only),
                                            include_tests=effective.include_tests or bool(include_tests))
        limit = int(max_tokens or self.settings.max_unit_tokens)
        cache_key = stable_hash(effective.to_dict(), limit)
        if cache_key not in self._units_cache:
            self._units_cache[cache_key] = [dict(u) for u in self._units_fn(effective, limit)]
        return [dict(u) for u in self._units_cache[cache_key]]

    def _narrow(self, scope: Any) -> Scope:
        if scope is None:
            return self.scope
        if isinstance(scope, Scope):
            return scope
        if isinstance(scope, str):
            return dataclasses.replace(self.scope, paths=[scope], selection=None)
        if isinstance(scope, (list, tuple)):
            return dataclasses.replace(self.scope, paths=[str(p) for p in scope], selection=None)
        if isinstance(scope, dict):
            return Scope.from_dict(scope)
        raise TypeError("units(scope=...): give a path, a list of paths or {'paths': [...], 'selection': [a, b]}")

    def components(self, scope: Any = None, max_tokens: int | None = None, code_only: bool = False,
                   include_tests: bool = False) -> list[dict[str, Any]]:
        """Files grouped by directory and language up to a token budget (analysis/components.py),
        each with the code of its files as "text", ready for agent(unit=component)."""
        from refute.analysis.components import group_components

        found = self.units(scope, None, code_only=code_only, include_tests=include_tests)
        limit = int(max_tokens or COMPONENT_TOKENS)
        grouped = [c.to_dict() for c in group_components(found, max_tokens=limit)]
        for component in grouped:  # the plan lists a component run's files, not its directory
            self.component_files[component["content_hash"]] = list(component["paths"])
        return grouped

    # --- coverage (orchestration/store/coverage.py) ------------------------------------------------

    def _coverage(self) -> tuple[Any, str]:
        from refute.orchestration.store.coverage import CoverageLedger, config_key

        with self._stores_lock:
            if self._ledger is None:
                self._ledger = CoverageLedger(self.state_dir)
        return self._ledger, config_key(self.workflow_name, self.args)

    def uncovered(self, units: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        """The units this workflow (with these arguments) has not searched at their current
        content: what a follow-up run still has to do. Read-only, also in a plan."""
        ledger, config = self._coverage()
        return [dict(u) for u in ledger.uncovered(config, list(units))]

    def mark_covered(self, units: Iterable[dict[str, Any]]) -> int:
        """Record units as searched and fully verified (a plan records nothing)."""
        units = list(units)
        if self.dry_run or not units:
            return 0
        ledger, config = self._coverage()
        return ledger.mark(config, units, run_id=self.run_id)

    def record_coverage(self, record: dict[str, Any]) -> None:
        """The run's coverage record (searched / not searched and why): kept in the ledger
        under the run id and sent as a `coverage` event."""
        if not isinstance(record, dict):
            raise TypeError("record_coverage(record): a dict")
        ledger, config = self._coverage()
        record = {**record, "workflow": self.workflow_name, "run_id": self.run_id, "config": config}
        if self.coverage_record is not None:  # a second sweep in one run (security's sweep of the unreached)
            record = _combine_coverage(self.coverage_record, record)
        self.coverage_record = dict(record)
        if self.dry_run:
            return
        ledger.record_run(self.run_id, dict(record))
        self.emit("coverage", record={k: v for k, v in record.items() if not isinstance(v, list)})

    def sweep(self, items: Iterable[dict[str, Any]], find: Callable[[dict[str, Any]], Any],
              verify: Callable[[dict[str, Any], dict[str, Any]], Any], **options: Any) -> dict[str, Any]:
        """Capacity-aware search and verification with a coverage record (calls/capacity.py)."""
        from refute.orchestration.calls.capacity import sweep

        allowed = {"finder_calls", "per_candidate", "rate", "verify_calls", "fan_out"}
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise TypeError(f"sweep(): unknown option(s) {', '.join(unknown)}; use {', '.join(sorted(allowed))}")
        return sweep(self, list(items), find, verify, **options)

    def dedup(self, candidate: dict[str, Any], where: Any) -> dict[str, Any] | None:
        """None when `candidate` is new; else what it merges into: {"into": title or
        fingerprint, "where": "run" | "stored"}. `where` is what locate() returned (or a
        1-based line). The merge is recorded (a `finding_merged` event, and on the stored
        finding for a cross-run merge). Rule: verification/dedup.py. Inside `sweep`, the
        decision was taken in item order (decide_duplicates) and is only read here."""
        decided = getattr(self._local, "dedup_decided", None)
        if decided is not None and decided[0] == stable_hash(candidate):
            self._local.dedup_decided = None
            merge, merged = decided[1]
        else:  # outside sweep: decided now, in arrival order
            merge, merged = self._decide_duplicate(candidate, where)
        if merge is None:
            return None
        if merge.where == "stored" and not self.dry_run:
            store, _ = self._stores()
            store.record_merge(merge.into, merged)
            again = store.get(merge.into)
            self.emit("finding_merged", into=merge.into, where="stored", merged=merged)
            if again is not None:  # found again by this run: editors and reports show it under this run
                self.emit("finding", finding=again.to_dict())
        else:
            self.emit("finding_merged", into=merge.into, where=merge.where, merged=merged)
        return {"into": merge.into, "where": merge.where}

    def decide_duplicates(self, candidates: list[dict[str, Any]]) -> list[Any]:
        """sweep() calls this for each item's candidates, one item at a time in item order,
        so which candidate of a group survives does not depend on which finder answered
        first. One opaque decision per candidate (None: no place to compare, e.g. a quote
        not in the file), handed back through `deciding()` to the script's dedup()."""
        out: list[Any] = []
        for candidate in candidates:
            where = self.locate(str(candidate.get("path") or ""), str(candidate.get("quote") or ""))
            out.append(None if where is None else (stable_hash(candidate), self._decide_duplicate(candidate, where)))
        return out

    @contextlib.contextmanager
    def deciding(self, decision: Any) -> Iterator[None]:
        """The script's dedup() on this thread returns `decision` (from decide_duplicates)."""
        self._local.dedup_decided = decision
        try:
            yield
        finally:
            self._local.dedup_decided = None

    def _decide_duplicate(self, candidate: dict[str, Any], where: Any) -> tuple[Any, dict[str, Any]]:
        from refute.orchestration.verification.dedup import Deduper, StoredPlace, family
        from refute.orchestration.verification.findings import normalise_quote

        if self._deduper is None:
            # Findings of earlier runs, taken once: never what this run stores meanwhile.
            earlier = [] if self.dry_run else self._stores()[0].earlier_findings(self.run_id)
            places = [StoredPlace(path=f.path, first=f.span.start_line + 1, last=f.span.end_line + 1,
                                  kind=family(f.to_dict()), quote=normalise_quote(f.quote), fingerprint=f.fingerprint)
                      for f in earlier if f.review_state not in (ReviewState.STALE.value, ReviewState.FIXED.value)]
            with self._stores_lock:
                if self._deduper is None:
                    self._deduper = Deduper(places)
        if isinstance(where, dict):
            first, last = int(where.get("line", 0)), int(where.get("end_line", where.get("line", 0)))
            path = str(where.get("path") or candidate.get("path") or "")
        else:
            first = last = int(where)
            path = str(candidate.get("path") or "")
        kind = family(candidate)
        merged = {"path": path, "line": first, "end_line": last, "title": str(candidate.get("title") or ""),
                  "family": kind, "run_id": self.run_id}
        merge = self._deduper.decide(path, (first, last), kind, normalise_quote(str(candidate.get("quote") or "")),
                                     merged)
        return merge, merged

    # --- agent ---------------------------------------------------------------------------------

    def agent(
        self,
        prompt: str,
        *,
        unit: dict[str, Any] | None = None,
        context: str | None = None,
        schema: dict[str, Any] | None = None,
        model: str | None = None,
        role: str = "default",
        label: str | None = None,
        tools: Sequence[str] = (),
        max_tokens: int | None = None,
        system: str | None = None,
        options: dict[str, Any] | None = None,
        default: Any = _NO_DEFAULT,
    ) -> Any:
        request = self._request(prompt, unit=unit, context=context, schema=schema, model=model, role=role,
                                label=label, tools=tools, max_tokens=max_tokens, system=system, options=options)
        if unit is not None and unit.get("path"):
            # The audit record lists which file paths each call sent (never their contents).
            self.emit("call_paths", key=request.key(), paths=[str(unit["path"])])
        try:
            with self.script_lock.released():  # other script threads run while this one waits
                result = self.scheduler.call(request)
        except AgentError as exc:
            if default is _NO_DEFAULT or exc.kind in _ALWAYS_RAISE:
                raise
            self.log(f"agent call {request.label or exc.key[:12]} failed; the script's default is used: {exc}")
            return default
        return result.data if schema else result.text

    def _request(self, prompt: Any, *, unit: Any, context: Any, schema: Any, model: Any, role: Any, label: Any,
                 tools: Any, max_tokens: Any, system: Any, options: Any) -> CallRequest:
        if not isinstance(prompt, str) or not prompt.strip():
            raise TypeError("agent(prompt): the prompt must be a non-empty string")
        if schema is not None and not isinstance(schema, dict):
            raise TypeError("agent(schema=...): a JSON schema dict")
        if context is not None and not isinstance(context, str):
            raise TypeError("agent(context=...): a string (the shared prefix of a fan-out)")
        if isinstance(tools, str):
            tools = (tools,)
        model = model or self.settings.model_for(str(role))
        try:
            pricing.resolve(model)
        except pricing.UnknownModel as exc:
            raise AgentError(str(exc), label=label, kind="config") from None
        if self.settings.allowed_models and model not in self.settings.allowed_models:
            raise AgentError(f"refused by the admin policy, rule providers.models: model {model!r} is not allowed "
                             f"(allowed: {', '.join(self.settings.allowed_models)})", label=label, kind="config")
        unit_hash = None
        if unit is not None:
            if not isinstance(unit, dict) or "text" not in unit:
                raise TypeError("agent(unit=...): a unit dict from units() (with 'text')")
            unit_hash = unit.get("content_hash") or stable_hash("unit-text", unit["text"])
            # Prompt layout for the cache: the code goes in the cached prefix (after any
            # shared context), so every call about this code (finder lenses, refuters of
            # its candidates) on one model re-reads it from the cache; the question follows.
            context = (context + "\n\n" if context else "") + render_unit(unit)
            label = label or f"{unit.get('path', 'unit')}:{int(unit.get('start_line', 0)) + 1}"
        prompt, context, system = _redact(prompt), _redact(context), _redact(system or "")
        return CallRequest(
            prompt=prompt, model=model, system=system or "", context=context, schema=schema,
            max_tokens=int(max_tokens or 4096), role=str(role), tools=tuple(str(t) for t in tools),
            unit_hash=unit_hash, label=str(label) if label is not None else None, options=dict(options or {}),
        )

    # --- concurrency ---------------------------------------------------------------------------

    def parallel(self, thunks: Iterable[Callable[[], Any]], *, raise_errors: bool = False) -> list[Any]:
        thunks = list(thunks)
        for i, thunk in enumerate(thunks):
            if not callable(thunk):
                raise TypeError(f"parallel(): item {i} is not callable (pass functions, e.g. lambda: agent(...))")
        if not thunks:
            return []
        parent_recent = list(self._recent())
        stop = self.scheduler.stop_event

        def wrap(fn: Callable[[], Any]) -> Callable[[], Any]:
            def run() -> Any:
                if stop.is_set():
                    raise RunInterrupted(self.scheduler.stop_reason)
                saved = (getattr(self._local, "in_task", False), getattr(self._local, "recent", None),
                         getattr(self._local, "made", None))
                self._local.in_task = True
                self._local.recent = deque(parent_recent, maxlen=PROVENANCE_DEPTH)  # a thunk starts with its parent's
                made: list[str] = []
                self._local.made = made
                try:
                    with self.script_lock.held():
                        return fn()
                finally:
                    self._local.in_task, self._local.recent, self._local.made = saved
                    with made_lock:
                        made_by[id(fn)] = made
            return run

        made_lock = threading.Lock()
        made_by: dict[int, list[str]] = {}
        # One distinct callable per position (the script may pass one function twice), kept
        # alive in `own` so their ids stay unique until the end.
        own = [(lambda fn=fn: fn()) for fn in thunks]
        with self.script_lock.released():
            tasks = self._pool.run_all(own, nested=getattr(self._local, "in_task", False), wrap=wrap)
        # The calls the thunks made become this thread's recent calls too, in thunk order:
        # a finding reported after refute()/vote() names the finder and its refuters.
        for thunk in own:
            self._remember_keys(made_by.get(id(thunk), ()))
        errors = [t.error for t in tasks if t.error is not None]
        interrupted = next((e for e in errors if isinstance(e, RunInterrupted)), None)
        if interrupted is not None:
            raise interrupted
        bugs = [e for e in errors if not isinstance(e, AgentError)]
        if bugs:  # a script bug is never turned into None
            raise bugs[0]
        if errors and raise_errors:
            if len(errors) > 1:
                self.log(f"parallel(): {len(errors)} of {len(thunks)} tasks failed; raising the first")
            raise errors[0]
        if errors:
            self.log(f"parallel(): {len(errors)} of {len(thunks)} items failed and are None "
                     f"(first: {scrub(str(errors[0]))})")
        return [None if t.error is not None else t.result for t in tasks]

    def pipeline(self, items: Iterable[Any], *stages: Callable[[Any], Any], raise_errors: bool = False) -> list[Any]:
        for i, stage in enumerate(stages):
            if not callable(stage):
                raise TypeError(f"pipeline(): stage {i} is not callable")

        def chain(item: Any) -> Callable[[], Any]:
            def run() -> Any:
                value = item
                for stage in stages:
                    value = stage(value)
                return value
            return run

        return self.parallel([chain(item) for item in items], raise_errors=raise_errors)

    # --- verification (bound from verify.py) --------------------------------------------------

    def refute(self, claim: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
        from refute.orchestration.verification import verify

        return verify.refute(self, claim, **kwargs)

    def vote(self, verdicts: Iterable[dict[str, Any]], quorum: int | None = None) -> dict[str, Any]:
        from refute.orchestration.verification import verify

        return verify.vote(verdicts, quorum=quorum)

    def converge(self, step: Callable[..., Any], **kwargs: Any) -> Any:
        from refute.orchestration.verification import verify

        return verify.converge(self, step, **kwargs)

    # --- outputs ----------------------------------------------------------------------------------

    def _stores(self) -> tuple[Any, Any]:
        with self._stores_lock:
            if self._findings_store is None:
                from refute.orchestration.verification.edits import EditsStore
                from refute.orchestration.verification.findings import FindingsStore

                never_send = self.settings.never_send
                self._findings_store = FindingsStore(self.workspace, self.state_dir, never_send=never_send)
                self._edits_store = EditsStore(self.workspace, self.state_dir, never_send=never_send)
            return self._findings_store, self._edits_store

    def locate(self, path: str, quote: str) -> dict[str, Any] | None:
        """Where `quote` is in the workspace file `path` now: {"path", "line", "end_line"}
        (1-based), or None. The same rule as the check that drops invented quotes, so a
        script can test a claim before paying refuters for it."""
        from refute.orchestration.verification.findings import locate_quote

        return locate_quote(self.workspace, path, quote, never_send=self.settings.never_send)

    def report(self, finding: dict[str, Any]) -> dict[str, Any] | None:
        if not isinstance(finding, dict):
            raise TypeError("report(finding): a dict with path, quote, title, explanation, severity, category")
        if self.dry_run:
            self.reported += 1
            return None
        store, _ = self._stores()
        provenance = list(self._recent())
        raw = dict(finding)
        raw["cost_usd"] = self._cost_of(provenance)  # what its calls cost, never what the script says
        stored, reason = store.ingest(raw, run_id=self.run_id, workflow=self.workflow_name,
                                      provider=self.provider_name, provenance=provenance)
        if stored is None:
            self.dropped += 1
            # Model output is logged redacted: a guess at a secret must not land in the audit log.
            quote = finding.get("quote")
            self.emit("finding_dropped", reason=reason, path=finding.get("path"),
                      quote=redact(quote)[0] if isinstance(quote, str) else quote)
            return None
        self.reported += 1
        data = stored.to_dict()
        self.emit("finding", finding=data)
        return data

    def _cost_of(self, keys: Iterable[str]) -> float:
        """A finding's cost: what the calls behind it (its provenance) cost when they were
        made, from the journal (a replayed call keeps its first price). Before this,
        audit findings said $0.0000 in a run that cost $0.03 (issue 16)."""
        journal = self.scheduler.journal
        if journal is None:
            return 0.0
        total = 0.0
        for key in dict.fromkeys(keys):
            result = journal.get(key)
            if result is not None:
                total += float(result.cost_usd or 0.0)
        return round(total, 8)

    def propose_edit(self, path: str, new_text: str | None = None, *, old: str | None = None, new: str | None = None,
                     reason: str = "", reviews: Iterable[dict[str, Any]] | None = None) -> dict[str, Any] | None:
        if self.dry_run:
            self.edits_proposed += 1
            return None
        _, edits = self._stores()
        edit = edits.propose(run_id=self.run_id, path=path, new_text=new_text, old_text=old, replacement=new,
                             reason=reason, reviews=list(reviews or ()), provider=self.provider_name)
        self.edits_proposed += 1
        data = edit.to_dict()
        self.emit("edit_proposed", edit=data)
        return data

    def phase(self, name: str) -> None:
        self.scheduler.phase = str(name)
        self.emit("phase", name=str(name))
        self.scheduler.emit_progress()

    def log(self, message: Any) -> None:
        text = str(message)
        if len(text) > MAX_LOG_CHARS:
            text = text[:MAX_LOG_CHARS] + f"... ({len(text) - MAX_LOG_CHARS} more characters)"
        self.emit("log", message=scrub(text))

    def workflow(self, name: str, args: dict[str, Any] | None = None) -> Any:
        if self._run_nested is None:
            raise RuntimeError("workflow(): a nested workflow cannot start another one (one level of nesting)")
        return self._run_nested(str(name), dict(args or {}))

    def close(self) -> None:
        self._pool.close()
        with self._stores_lock:
            for store in (self._findings_store, self._edits_store, self._ledger):
                if store is not None:
                    store.close()
            self._findings_store = self._edits_store = self._ledger = None


def _combine_coverage(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
    """One run, two sweeps: counts add up, lists join, complete only if both are."""
    out = dict(second)
    for key in ("items", "covered", "not_covered", "not_searched", "deferred", "failed", "searched", "candidates",
                "not_covered_listed", "finder_calls"):
        out[key] = int(first.get(key) or 0) + int(second.get(key) or 0)
    out["outcomes"] = {k: int((first.get("outcomes") or {}).get(k, 0)) + int((second.get("outcomes") or {}).get(k, 0))
                       for k in set(first.get("outcomes") or {}) | set(second.get("outcomes") or {})}
    out["not_covered_items"] = list(first.get("not_covered_items") or []) + list(second.get("not_covered_items") or [])
    out["complete"] = bool(first.get("complete")) and bool(second.get("complete"))
    out["fan_out"] = first.get("fan_out", second.get("fan_out"))  # the run's fan-out (a sweep of the unreached follows it)
    out["candidate_rate"] = round(out["candidates"] / out["searched"], 4) if out["searched"] else None
    return out


def script_primitives(names: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    """The workflow-API primitives built on the other names (the steps the bundled
    workflows share): verification/claims.py (check_candidate, cross_check),
    runtime/fanout.py (fan_out, search), runtime/digest.py (outline, entry_points,
    file_texts, file_groups), verification/migration_steps.py (survey_guide,
    migrate_files). They call only
    the names a script sees, so they do what a script could do itself, and any stand-in
    for the API (the tests') gets the same steps from this one function. `names` is read
    when a primitive runs, so later additions to it are seen."""
    from refute.orchestration.runtime import digest
    from refute.orchestration.runtime.fanout import FanOut
    from refute.orchestration.verification.claims import ClaimChecks
    from refute.orchestration.verification.migration_steps import MigrationSteps

    out: dict[str, Callable[..., Any]] = dict(digest.NAMES)
    for binder in (ClaimChecks, FanOut, MigrationSteps):
        out.update(binder(names).names())
    return out


def _checked_call(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` as a script sees it: a call whose arguments do not fit raises a TypeError that
    names the workflow function and its signature (not `WorkflowAPI.agent()`)."""
    signature = inspect.signature(fn)
    shown = f"{name}({_plain_parameters(signature)})"

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            hint = ""
            if name == "agent" and len(args) > 1 and isinstance(args[1], dict):
                hint = "; options are keywords: agent(prompt, schema=..., label=...), not a dict"
            raise TypeError(f"{shown}: {exc}{hint}") from None
        return fn(*args, **kwargs)

    return call


def _plain_parameters(signature: inspect.Signature) -> str:
    """`prompt, *, unit=None, ...`: names and simple defaults, no annotations or sentinels."""
    out: list[str] = []
    star = False
    for p in signature.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            out.append(f"*{p.name}")
            star = True
            continue
        if p.kind is p.VAR_KEYWORD:
            out.append(f"**{p.name}")
            continue
        if p.kind is p.KEYWORD_ONLY and not star:
            out.append("*")
            star = True
        if p.default is p.empty:
            out.append(p.name)
        elif p.default is _NO_DEFAULT or not isinstance(p.default, (str, int, float, bool, type(None), tuple)):
            out.append(f"{p.name}=...")
        else:
            out.append(f"{p.name}={p.default!r}")
    return ", ".join(out)


def render_unit(unit: dict[str, Any]) -> str:
    """How a unit's code reaches the model: path, 1-based lines, symbol, then the text (a
    component: its directory and files, each file's code in a <file> block)."""
    if unit.get("kind") == "component":
        return (f'<component path="{unit.get("path") or "."}" files="{len(unit.get("paths") or [])}">\n'
                f'{unit.get("header") or ""}\n{unit["text"]}\n</component>')
    start = int(unit.get("start_line", 0)) + 1
    end = int(unit.get("end_line", unit.get("start_line", 0))) + 1
    attrs = f'path="{unit.get("path", "")}" lines="{start}-{end}"'
    if unit.get("symbol"):
        attrs += f' symbol="{unit["symbol"]}"'
    header = f"{unit['header']}\n" if unit.get("header") else ""
    return f"<code {attrs}>\n{header}{unit['text']}\n</code>"


def _redact(text: str | None) -> str | None:
    return redact(text)[0] if text else text
