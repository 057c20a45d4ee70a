"""The Engine: the one API that the CLI and the language server drive.

One Engine per workspace per process; thread-safe; every method returns quickly except
`wait` (which says so) and `plan` (a dry run in a worker, bounded by PLAN_TIMEOUT_S).
Each run executes in its own worker process (worker.py explains why); the Engine
- spawns it and holds the run's lock while it lives;
- reads its events, appends them to the run's audit log (events.jsonl), folds them into
  RunInfo (run.json) and hands them to subscribers on a dispatcher thread;
- polls each run's control file, so `refute cancel RUN` from another process works;
- watches for stalls: a run with no event for `idle_timeout_s` is stopped and marked
  failed ("stalled");
- on cancel, kills the worker at once (finished calls are already in the journal).
Findings, edits, dismissals and reports belong to FindingsStore / EditsStore / report.py
and are reached through here, so the CLI and the editor see the same thing.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from refute.orchestration.calls import pricing
from refute.orchestration.errors import InvalidInput, NotAllowed
from refute.orchestration.governance import gate, policy as admin_policy
from refute.orchestration.model import (Budget, Finding, JSONObject, PlanEstimate, ProposedEdit, RunEvent, RunInfo,
                                        RunStatus, Scope, Usage)
from refute.orchestration.store.runs import RunLocked, RunNotFound, RunStore, ensure_state_dir
from refute.orchestration.calls.scheduler import BATCH_CALL_TIMEOUT_S
from refute.orchestration.sandbox.scripts import (
    ScriptProblem,
    WorkflowNotFound,
    WorkflowSource,
    available,
    check_source,
    check_workflow_args,
    resolve,
    static_meta,
)
from refute.orchestration.settings import MAX_CONCURRENCY, EngineSettings
from refute.orchestration.verification.findings import FindingNotFound
from refute.orchestration.verification.project_check import cleanup_run
from refute.orchestration.verification.edits import ApplyOutcome, EditsStore
from refute.orchestration.verification.findings import FindingsStore

PLAN_TIMEOUT_S = 60.0
PAUSE_GRACE_S = 15.0  # in-flight calls may finish (and be journaled) before a pause kills the worker
SAVE_EVERY_S = 0.5
POLL_S = 0.2
READ_GATHER_S = 0.02  # worker events gather this long between batches (see _read_worker)
READ_CHUNK = 1 << 16

Callback = Callable[[RunEvent], None]

__all__ = ["Engine", "EngineError", "ScriptInvalid", "RunLocked", "RunNotFound", "WorkflowNotFound", "PlanEstimate",
           "RunEvent", "ScriptProblem"]


class EngineError(NotAllowed):
    """The engine refused an operation (the run's state, a script that cannot be planned);
    the message says why."""


class ScriptInvalid(EngineError):
    def __init__(self, display: str, problems: list[ScriptProblem]):
        self.problems = problems
        shown = "; ".join(f"{display}:{p.line + 1}: {p.message}" for p in problems[:5])
        super().__init__(f"workflow script has problems: {shown}")


@dataclass
class _ActiveRun:
    info: RunInfo
    proc: subprocess.Popen
    lock: Any
    settings: EngineSettings
    last_event: float = field(default_factory=time.monotonic)
    last_save: float = 0.0
    stop_requested: str | None = None  # "pause" | "cancel" | "stalled"
    pause_deadline: float | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    final_seen: bool = False
    pending_events: list[dict[str, Any]] = field(default_factory=list)
    calls_waiting: set[str] = field(default_factory=set)  # keys started and not yet finished or failed
    reservation: str | None = None  # this launch's reservation in the spend ledger

    def idle_limit(self) -> float:
        """Seconds without an event before the run counts as stalled. A batch run's calls
        wait silently for their batch (up to 24 h): while any is waiting, that is progress."""
        idle = self.settings.idle_timeout_s
        if idle and self.settings.batch and self.calls_waiting:
            return max(idle, BATCH_CALL_TIMEOUT_S)
        return idle


class Engine:
    def __init__(self, workspace: str | Path, settings: EngineSettings | None = None, *,
                 worker_nice: int | None = None) -> None:
        """`worker_nice`: how far below this process each run's worker runs (worker.py,
        DEFAULT_NICE when None); the language server asks for more than the CLI."""
        self.workspace = Path(workspace).resolve()
        self.settings = settings or EngineSettings()
        self.worker_nice = worker_nice
        self.state_dir = ensure_state_dir(self.workspace)
        self.store = RunStore(self.state_dir)
        self._lock = threading.RLock()
        self._active: dict[str, _ActiveRun] = {}
        self._subscribers: list[tuple[Callback, str | None]] = []
        self._queue: queue.Queue = queue.Queue()
        self._closed = threading.Event()
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name="refute-events", daemon=True)
        self._dispatcher.start()
        self._monitor = threading.Thread(target=self._monitor_loop, name="refute-monitor", daemon=True)
        self._monitor.start()

    # --- workflows -------------------------------------------------------------------------

    def workflows(self) -> list[WorkflowSource]:
        return available(self.workspace)

    def check_script(self, path_or_text: str | Path) -> list[ScriptProblem]:
        text = str(path_or_text)
        if isinstance(path_or_text, Path) or ("\n" not in text and text.endswith(".py")):
            path = Path(text)
            if not path.is_absolute():
                path = self.workspace / path
            try:
                text = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                return [ScriptProblem(0, 0, f"cannot read {path_or_text}: {exc}")]
        return check_source(text)

    def _source(self, workflow: str) -> WorkflowSource:
        source = resolve(self.workspace, workflow)
        problems = check_source(source.source, source.filename)
        if problems:
            raise ScriptInvalid(source.display, problems)
        return source

    def _effective_settings(self, provider: str | None = None, max_concurrency: int | None = None,
                            policy: admin_policy.Policy | None = None) -> EngineSettings:
        changes: dict[str, Any] = {}
        if provider:
            changes["provider"] = provider
        if max_concurrency:
            changes["max_concurrency"] = max(1, min(int(max_concurrency), self.settings.max_concurrency, MAX_CONCURRENCY))
        settings = replace(self.settings, **changes)
        for role in ("default", "finder", "refuter", "editor"):
            pricing.resolve(settings.model_for(role))  # unknown model: clear error now, not mid-run
        # The admin policy (governance/gate.py): refuses what it does not allow, merges
        # never-send globs, model allow-list and approval thresholds. Read at every call.
        return gate.governed_settings(settings, policy or admin_policy.load())

    # --- plan ----------------------------------------------------------------------------------

    def plan(self, workflow: str, scope: Scope | JSONObject | None = None, args: JSONObject | None = None) -> PlanEstimate:
        """An estimate of calls, tokens and cost from a dry run with placeholder answers.
        Calls no model. Runs in a worker (a spinning script cannot hang the caller)."""
        source = self._source(workflow)
        check_workflow_args(source.meta, args, source.name)
        policy = admin_policy.load()
        policy.check_workflow(source.name)
        settings = self._effective_settings(policy=policy)
        job = {"mode": "plan", "workspace": str(self.workspace), "settings": asdict(settings),
               "source": _source_dict(source), "scope": _scope(scope).to_dict(), "args": dict(args or {}),
               "cpu_s": int(PLAN_TIMEOUT_S * 2)}
        proc = self._spawn(job, log_path=None)
        try:
            out, err = proc.communicate(timeout=PLAN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise EngineError(f"plan of {workflow}: the dry run did not finish within {PLAN_TIMEOUT_S:g} s "
                              "(does the script loop without calling agents?)") from None
        for line in out.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("type") == "plan":
                return PlanEstimate.from_dict(event["plan"])
            if event.get("type") == "plan_error":
                raise EngineError(f"plan of {workflow}: {event['error']}")
        raise EngineError(f"plan of {workflow}: the dry run died (exit {proc.returncode}): {_tail(err)}")

    # --- runs ----------------------------------------------------------------------------------

    def start(self, workflow: str, *, scope: Scope | JSONObject | None = None, args: JSONObject | None = None,
              budget: Budget | JSONObject | None = None, provider: str | None = None, max_concurrency: int | None = None,
              started_by: str = "", check: JSONObject | None = None, guide: str | None = None) -> str:
        """Start a run in the background; returns its id at once. `check` ({"command",
        "timeout_s"}) is the project's own check a migration may run (only when a person
        names it: verification/project_check.py); `guide` a migration guide a person wrote
        or edited, kept with the run (store/guide.py)."""
        return self._start_source(self._source(workflow), scope=scope, args=args, budget=budget, provider=provider,
                                  max_concurrency=max_concurrency, started_by=started_by, check=check, guide=guide)

    def _start_source(self, source: WorkflowSource, *, scope: Scope | dict | None, args: dict[str, Any] | None,
                      budget: Budget | dict | None, provider: str | None, max_concurrency: int | None,
                      started_by: str, check: dict[str, Any] | None = None, guide: str | None = None) -> str:
        from refute.orchestration.store import guide as guide_store
        from refute.orchestration.verification import project_check

        check_workflow_args(source.meta, args, source.name)  # WorkflowArgsError before anything starts
        policy = admin_policy.load()
        settings = self._effective_settings(provider, max_concurrency, policy)
        self._check_provider(settings)
        check_config = project_check.validate(self.workspace, check["command"], check.get(
            "timeout_s", project_check.DEFAULT_TIMEOUT_S)) if check else None
        if guide is not None:
            guide_store.check_guide(guide, "guide")
        if budget is None:
            budget = Budget(settings.budget_tokens, settings.budget_usd)
        elif isinstance(budget, dict):
            budget = Budget.from_dict(budget)
        run_id, started_by = self.store.new_id(), started_by or _default_who()
        budget, admission = gate.admit_run(policy, workflow=source.name, settings=settings, budget=budget,
                                           run_id=run_id, workspace=self.workspace, started_by=started_by)
        info = RunInfo(
            id=run_id, workflow=source.name, script_hash=source.hash, args=dict(args or {}),
            scope=_scope(scope), status=RunStatus.QUEUED, budget=budget, provider=settings.provider,
            started_by=started_by, created_at=time.time(),
        )
        try:
            self.store.create(info, source, settings)
            gate.record_admission(self.store.dir(run_id), admission)
            project_check.save_config(self.store.dir(info.id), check_config)
            if guide is not None:
                guide_store.save(self.state_dir, info.id, guide)
            self._launch(info, source, settings, resumed=False, reservation=admission["reservation"])
        except BaseException:
            gate.release_unstarted(policy, run_id, self.workspace, admission["reservation"])
            raise
        return info.id

    def continue_run(self, run_id: str, *, workflow: str | None = None, budget: Budget | JSONObject | None = None,
                     provider: str | None = None, max_concurrency: int | None = None, started_by: str = "") -> str:
        """A follow-up run that covers what `run_id` left (`refute run audit --continue RUN`,
        the editor's "Continue audit"): the same workflow, scope and arguments, with
        `skip_covered` so units searched at the same content (coverage ledger) are skipped;
        finder calls of units whose candidates were left unverified replay free."""
        run_id = self.store.resolve_id(run_id)
        previous = self.run(run_id)
        if workflow and workflow != previous.workflow and Path(workflow).stem != previous.workflow:
            raise EngineError(f"--continue {run_id}: that run was a {previous.workflow!r} run, not {workflow!r}")
        if previous.status.live:
            raise EngineError(f"--continue {run_id}: the run is still {previous.status}; wait for it or cancel it")
        args = {k: v for k, v in (previous.args or {}).items() if k not in ("skip_covered", "continues")}
        args.update(skip_covered=True, continues=run_id)
        return self._start_source(self.store.source(run_id), scope=previous.scope, args=args, budget=budget,
                                  provider=provider, max_concurrency=max_concurrency, started_by=started_by)

    def resume(self, run_id: str, *, budget: Budget | JSONObject | None = None) -> str:
        """Continue a paused, cancelled, failed, budget-reached or interrupted run: finished
        calls replay from the journal at zero tokens; the rest go to the provider. `budget`
        (tokens and/or usd) replaces the run's budget limits where given (a larger budget
        continues a budget-reached run); what was spent so far still counts."""
        run_id = self.store.resolve_id(run_id)
        with self._lock:
            active = self._active.get(run_id)
        if active is not None and active.final_seen:
            # Its last status (paused, budget_reached...) is out but the worker is still
            # exiting: a client that saw the status may resume straight away.
            active.finished.wait(10.0)
        with self._lock:
            if run_id in self._active:
                raise EngineError(f"run {run_id} is already running in this process")
        info = self.store.load(run_id)
        if info.status is RunStatus.COMPLETED:
            raise EngineError(f"run {run_id} already completed; start a new run instead")
        # "completed with failures" may be resumed: its failed calls are tried again.
        source = self.store.source(run_id)
        policy = admin_policy.load()
        settings = gate.governed_settings(self.store.launch_settings(run_id), policy)  # today's policy, not the launch's
        self._check_provider(settings)
        if budget is not None:
            given = budget if isinstance(budget, Budget) else Budget.from_dict(budget)
            info.budget = Budget(given.tokens if given.tokens is not None else info.budget.tokens,
                                 given.usd if given.usd is not None else info.budget.usd)
        info.usage, info.cost_usd = self._spent_from_log(run_id)
        info.budget, admission = gate.admit_run(
            policy, workflow=source.name, settings=settings, budget=info.budget, run_id=run_id,
            workspace=self.workspace, started_by=_default_who(), already_spent_usd=info.cost_usd, resumed=True)
        info.calls_done = info.calls_failed = info.calls_replayed = 0
        info.error = None
        info.finished_at = None
        try:
            self._launch(info, source, settings, resumed=True, reservation=admission["reservation"])
        except BaseException:
            gate.release_unstarted(policy, run_id, self.workspace, admission["reservation"])
            raise
        gate.record_admission(self.store.dir(run_id), admission)
        return run_id

    def _counted_keys(self, run_id: str) -> list[str]:
        """Keys whose paid call_finished is in the run's log: a replayed answer of this run
        not among them was paid but never counted (killed in between) and is charged."""
        return [str(e.get("key")) for e in self.store.iter_events(run_id)
                if e.get("type") == "call_finished" and not e.get("replayed")]

    def _spent_from_log(self, run_id: str) -> tuple[Usage, float]:
        """What the run paid, from its append-only log (run.json is saved only every few
        seconds, so after kill -9 it may lag the log)."""
        usage, cost = Usage(), 0.0
        for e in self.store.iter_events(run_id):
            if (e.get("type") == "call_finished" and not e.get("replayed")) or e.get("type") == "call_failed":
                usage = usage + Usage.from_dict(e.get("usage") or {})
                cost += float(e.get("cost_usd") or 0.0)
        return usage, cost

    def _check_provider(self, settings: EngineSettings) -> None:
        from refute.orchestration.providers import make_provider

        make_provider(settings, self.workspace).close()  # NotConfigured names what to set

    def _launch(self, info: RunInfo, source: WorkflowSource, settings: EngineSettings, *, resumed: bool,
                reservation: str | None = None) -> None:
        lock = self.store.lock(info.id)
        lock.acquire()  # RunLocked if another live process drives it
        try:
            self.store.clear_request(info.id)
            info.status = RunStatus.RUNNING
            job = {"mode": "run", "workspace": str(self.workspace), "settings": asdict(settings),
                   "source": _source_dict(source), "run": info.to_dict(), "spent_tokens": info.usage.total_tokens,
                   "spent_usd": info.cost_usd, "max_concurrency": settings.max_concurrency,
                   "counted_keys": self._counted_keys(info.id) if resumed else None}
            if self.worker_nice is not None:
                job["nice"] = self.worker_nice
            proc = self._spawn(job, log_path=self.store.dir(info.id) / "worker.log")
        except BaseException:
            lock.release()
            raise
        active = _ActiveRun(info=info, proc=proc, lock=lock, settings=settings, reservation=reservation)
        with self._lock:
            self._active[info.id] = active
        self._engine_event(active, "run_status", status=RunStatus.RUNNING.value, error=None,
                           started_by=info.started_by, resumed=resumed, pid=os.getpid(), worker_pid=proc.pid)
        threading.Thread(target=self._read_worker, args=(active,), name=f"refute-run-{info.id}", daemon=True).start()

    def _spawn(self, job: dict[str, Any], log_path: Path | None) -> subprocess.Popen:
        env = dict(os.environ)
        env.setdefault("MALLOC_ARENA_MAX", "2")
        stderr: Any = subprocess.PIPE
        if log_path is not None:
            stderr = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            proc = subprocess.Popen(
                worker_command(), stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=stderr, env=env, cwd=worker_cwd(), text=True, bufsize=1,
            )
        finally:
            if log_path is not None:
                stderr.close()
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(job) + "\n")
        proc.stdin.flush()
        return proc

    # --- worker events ----------------------------------------------------------------------------

    def _read_worker(self, active: _ActiveRun) -> None:
        """Read the worker's events in batches: whatever is in the pipe, then a short pause
        (READ_GATHER_S) so the next events gather there. A 1,000-call run emits thousands
        of events; handled one by one, each woke this thread, took the GIL, wrote and
        flushed the audit log and queued a hand-off, and every such wake-up delayed the
        language server's requests. Nothing waits in this process meanwhile: unread
        events stay in the pipe, so a worker that dies loses none of them."""
        assert active.proc.stdout is not None
        fd = active.proc.stdout.fileno()  # raw reads: nothing else reads this stream
        partial = b""
        while True:
            try:
                chunk = os.read(fd, READ_CHUNK)
            except InterruptedError:
                continue
            except OSError:
                break
            if not chunk:
                break
            *lines, partial = (partial + chunk).split(b"\n")
            if lines:
                self._on_lines(active, lines)
            # No pause after the run's last status: the worker exits next, and the run must
            # leave _active at once (a client that sees "paused" may resume straight away).
            if len(chunk) < READ_CHUNK and not active.final_seen:
                time.sleep(READ_GATHER_S)
        if partial.strip():
            self._on_lines(active, [partial])  # a last line without its newline
        code = active.proc.wait()
        self._worker_ended(active, code)

    def _on_lines(self, active: _ActiveRun, lines: list[bytes]) -> None:
        """One batch of worker lines: fold each event into RunInfo, append the batch to the
        audit log in one write (the worker's own JSON text: it is not encoded twice) and
        hand it to the dispatcher as one item."""
        events: list[dict[str, Any]] = []
        texts: list[str] = []
        status_changed = False
        for raw in lines:
            try:
                text = raw.decode("utf-8").strip()
                event = json.loads(text)
            except ValueError:  # UnicodeDecodeError is a ValueError too
                continue
            if not isinstance(event, dict):
                continue
            publish, changed = self._fold(active, event)
            status_changed = status_changed or changed
            if publish:
                events.append(event)
                texts.append(text)
        active.last_event = time.monotonic()
        if events:
            self.store.append_encoded(active.info.id, texts, keep_open=True)
            self._queue.put(events)
        now = time.monotonic()
        if status_changed or now - active.last_save > SAVE_EVERY_S:
            active.last_save = now
            self._save(active)

    def _fold(self, active: _ActiveRun, event: dict[str, Any]) -> tuple[bool, bool]:
        """Fold one worker event into the run's RunInfo: (publish it, status changed)."""
        info = active.info
        kind = event.get("type")
        status_changed = False
        with self._lock:
            if kind == "call_started":
                active.calls_waiting.add(str(event.get("key")))
            elif kind in ("call_finished", "call_failed"):
                active.calls_waiting.discard(str(event.get("key")))
            if kind == "call_finished":
                info.calls_done += 1
                if event.get("replayed"):
                    info.calls_replayed += 1
                else:
                    info.usage = info.usage + Usage.from_dict(event.get("usage") or {})
                    info.cost_usd += float(event.get("cost_usd") or 0.0)
            elif kind == "call_failed":
                info.calls_failed += 1
                # A failed call may still have used (and been billed for) tokens.
                info.usage = info.usage + Usage.from_dict(event.get("usage") or {})
                info.cost_usd += float(event.get("cost_usd") or 0.0)
            elif kind == "phase":
                info.phase = str(event.get("name", ""))
            elif kind == "run_status":
                status = RunStatus(event.get("status"))
                if status is RunStatus.RUNNING:
                    return False, False  # the engine already announced it
                if active.stop_requested == "cancel" and status is not RunStatus.CANCELLED:
                    status = RunStatus.CANCELLED
                info.status = status
                info.error = event.get("error")
                if "result" in event:
                    info.result = event.get("result")
                if status.finished or status is RunStatus.PAUSED:
                    info.finished_at = time.time()
                    active.final_seen = True
                status_changed = True
        return True, status_changed

    def _engine_event(self, active: _ActiveRun, type_: str, **fields: Any) -> None:
        event = {"type": type_, "run_id": active.info.id, "ts": time.time(), **fields}
        self._publish(active, event)

    def _publish(self, active: _ActiveRun, event: dict[str, Any]) -> None:
        self.store.append_events(active.info.id, [event], keep_open=True)
        self._queue.put([event])

    def _save(self, active: _ActiveRun) -> None:
        with self._lock:
            snapshot = RunInfo.from_dict(json.loads(json.dumps(active.info.to_dict(), default=str)))
        self.store.save(snapshot)

    def _worker_ended(self, active: _ActiveRun, code: int) -> None:
        info = active.info
        if not active.final_seen:
            reason = active.stop_requested
            if reason == "cancel":
                status, error = RunStatus.CANCELLED, "cancelled by request"
            elif reason == "pause":
                status, error = RunStatus.PAUSED, "paused by request (in-flight calls were stopped)"
            elif reason == "stalled":
                status = RunStatus.FAILED
                error = f"stalled: no progress for {active.settings.idle_timeout_s:g} s; the run was stopped"
            else:
                status = RunStatus.FAILED
                error = _worker_death(code, self.store.dir(info.id) / "worker.log")
            with self._lock:
                info.status, info.error, info.finished_at = status, error, time.time()
            self._engine_event(active, "run_status", status=status, error=error)
        self._save(active)
        self.store.close_events(info.id)
        cleanup_run(self.workspace, self.state_dir, info.id)  # checks a killed worker left behind
        active.lock.release()
        with self._lock:
            self._active.pop(info.id, None)
        # The spend ledger (governance/ledger.py), after the run left _active (a client that
        # sees "paused" may resume at once) and before wait() returns (the CLI exits then).
        # It releases only this launch's reservation, never a resume's new one.
        try:
            gate.settle_run(info, self.workspace, active.reservation)
        except OSError as exc:
            print(f"refute: the spend ledger could not record run {info.id}: {exc}", file=sys.stderr)
        active.finished.set()

    # --- control -----------------------------------------------------------------------------------

    def cancel(self, run_id: str) -> None:
        """Stop a run now (its worker is killed; finished calls stay in the journal)."""
        run_id = self.store.resolve_id(run_id)
        active = self._active.get(run_id)
        if active is not None:
            active.stop_requested = "cancel"
            _kill(active.proc)
            return
        self._control_elsewhere(run_id, "cancel")

    def pause(self, run_id: str) -> None:
        """Stop dispatching; let in-flight calls finish (up to PAUSE_GRACE_S); resumable."""
        run_id = self.store.resolve_id(run_id)
        active = self._active.get(run_id)
        if active is not None:
            if active.stop_requested is None:
                active.stop_requested = "pause"
                active.pause_deadline = time.monotonic() + PAUSE_GRACE_S
                try:
                    assert active.proc.stdin is not None
                    active.proc.stdin.write("pause\n")
                    active.proc.stdin.flush()
                except (BrokenPipeError, OSError, ValueError):
                    _kill(active.proc)
            return
        self._control_elsewhere(run_id, "pause")

    def _control_elsewhere(self, run_id: str, command: str) -> None:
        info = self.store.load(run_id)
        if info.status.finished:
            return
        if self.store.is_driven(run_id):
            self.store.request(run_id, command)  # the driving process polls this
            return
        # Nobody drives it (its process died): record the decision directly.
        if command == "cancel" or info.status is not RunStatus.PAUSED:
            info.status = RunStatus.CANCELLED if command == "cancel" else RunStatus.PAUSED
            info.error = f"{info.status} by request (no process was driving the run)"
            info.finished_at = time.time()
            self.store.save(info)
            self.store.append_events(run_id, [{"type": "run_status", "run_id": run_id, "ts": time.time(),
                                               "status": info.status.value, "error": info.error}])

    def _monitor_loop(self) -> None:
        while not self._closed.wait(POLL_S):
            with self._lock:
                actives = list(self._active.values())
            now = time.monotonic()
            for active in actives:
                run_id = active.info.id
                request = self.store.pending_request(run_id)
                if request:
                    self.store.clear_request(run_id)
                    if request == "cancel":
                        self.cancel(run_id)
                    elif request == "pause":
                        self.pause(run_id)
                if active.pause_deadline is not None and now > active.pause_deadline and active.proc.poll() is None:
                    _kill(active.proc)
                idle = active.idle_limit()
                if active.stop_requested is None and idle and now - active.last_event > idle:
                    active.stop_requested = "stalled"
                    self._engine_event(active, "log", message=f"no progress for {idle:g} s: stopping the stalled run")
                    _kill(active.proc)

    # --- observing -----------------------------------------------------------------------------------

    def subscribe(self, callback: Callback, run_id: str | None = None) -> Callable[[], None]:
        """Call `callback(RunEvent)` on the dispatcher thread for every event of runs this
        Engine drives (or of `run_id` only); returns the unsubscribe function."""
        entry = (callback, run_id)
        with self._lock:
            self._subscribers.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subscribers:
                    self._subscribers.remove(entry)

        return unsubscribe

    def _dispatch_loop(self) -> None:
        while True:
            batch = self._queue.get()  # a list of events, a drain marker, or None to stop
            if batch is None:
                return
            if isinstance(batch, threading.Event):
                batch.set()
                continue
            with self._lock:
                targets = list(self._subscribers)
            for raw in batch:
                event = RunEvent.from_dict(raw)  # the dict is the worker's wire form; subscribers get it typed
                for callback, wanted in targets:
                    if wanted is not None and wanted != event.run_id:
                        continue
                    try:
                        callback(event)
                    except Exception as exc:  # a broken subscriber must not stop the others
                        print(f"refute: event subscriber failed: {exc!r}", file=sys.stderr)

    def wait(self, run_id: str, timeout: float | None = None) -> RunInfo:
        """Block until the run is no longer running (or `timeout` s pass); its RunInfo."""
        run_id = self.store.resolve_id(run_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        active = self._active.get(run_id)
        if active is not None:
            active.finished.wait(timeout)
            self._drain_events()
            return self.run(run_id)
        while True:
            info = self.store.load(run_id)
            if not info.status.live or not self.store.is_driven(run_id):
                return info
            if deadline is not None and time.monotonic() > deadline:
                return info
            time.sleep(POLL_S)

    def _drain_events(self, timeout: float = 2.0) -> None:
        """Let subscribers see every event queued so far (so wait() returns after them)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def run(self, run_id: str) -> RunInfo:
        run_id = self.store.resolve_id(run_id)
        active = self._active.get(run_id)
        if active is not None:
            with self._lock:
                return RunInfo.from_dict(json.loads(json.dumps(active.info.to_dict(), default=str)))
        return self._as_seen(self.store.load(run_id))

    def runs(self) -> list[RunInfo]:
        return [self.run(r.id) if r.id in self._active else self._as_seen(r) for r in self.store.list()]

    def _as_seen(self, info: RunInfo) -> RunInfo:
        """A stored run as people should see it: queued/running with no live driver (its
        process was killed) is `interrupted`; one rule for the CLI and the editor."""
        if info.status.live and not self.store.is_driven(info.id):
            info.status = RunStatus.INTERRUPTED
        return info

    def events(self, run_id: str) -> list[RunEvent]:
        """The run's audit log (events.jsonl), oldest first."""
        return [RunEvent.from_dict(e) for e in self.store.iter_events(run_id)]

    # --- findings, edits, reports (FindingsStore / EditsStore / report.py) ----------------------------

    def _findings_store(self) -> FindingsStore:
        return FindingsStore(self.workspace, self.state_dir, never_send=self.settings.never_send)

    def _edits_store(self) -> EditsStore:
        return EditsStore(self.workspace, self.state_dir, never_send=self.settings.never_send)

    def findings(self, run_id: str | None = None, path: str | None = None,
                 include_dismissed: bool = False) -> list[Finding]:
        store = self._findings_store()
        try:
            rid = self.store.resolve_id(run_id) if run_id else None
            return store.list(run_id=rid, path=path, include_dismissed=include_dismissed)
        finally:
            store.close()

    def edits(self, run_id: str | None = None) -> list[ProposedEdit]:
        store = self._edits_store()
        try:
            return store.list(self.store.resolve_id(run_id) if run_id else None)
        finally:
            store.close()

    def apply_edits(self, run_id: str, paths: list[str] | None = None, write: bool = True,
                    allow_tool_config: list[str] | tuple[str, ...] = ()) -> list[ApplyOutcome]:
        """Apply (or with write=False check) a run's proposed edits. The policy's
        edits.allow_apply=false refuses both: the language server checks before it asks
        the editor to apply, so refusing the check refuses the editor path too."""
        admin_policy.load().check_apply()
        store = self._edits_store()
        try:
            rid = self.store.resolve_id(run_id)
            outcomes = store.apply(rid, paths, write=write, allow_tool_config=allow_tool_config)
        finally:
            store.close()
        if write:
            for outcome in outcomes:
                if outcome.ok:
                    gate.record_decision(self.store.dir(rid), "edit_applied", who=_default_who(),
                                         edit_id=outcome.edit_id, path=outcome.path)
        return outcomes

    def mark_applied(self, edit_id: str) -> ProposedEdit:
        admin_policy.load().check_apply()
        store = self._edits_store()
        try:
            edit = store.mark_applied(edit_id)
        finally:
            store.close()
        gate.record_decision(self.store.dir(edit.run_id), "edit_applied", who=_default_who(), edit_id=edit.id,
                             path=edit.path, via="editor")
        return edit

    def dismiss(self, fingerprint: str, reason: str, who: str) -> Finding:
        store = self._findings_store()
        try:
            return store.dismiss(fingerprint, reason, who)
        finally:
            store.close()

    def dismissals(self) -> dict[str, JSONObject]:
        """fingerprint -> {who, when, why, ...} from .refute/dismissed.json."""
        store = self._findings_store()
        try:
            return store.dismissals()
        finally:
            store.close()

    def audit_record(self, run_id: str, fmt: str = "json") -> str:
        """The run's audit record (governance/record.py) as JSON or CSV."""
        from refute.orchestration.governance import record

        if fmt not in ("json", "csv"):
            raise InvalidInput(f"audit record format {fmt!r}: choose json or csv")
        data = record.build(self, run_id)
        return json.dumps(data, indent=2) + "\n" if fmt == "json" else record.to_csv(data)

    def restore(self, fingerprint: str) -> Finding:
        store = self._findings_store()
        try:
            return store.restore(fingerprint)
        finally:
            store.close()

    def reverify(self, fingerprint: str) -> str:
        """A new run of the `reverify` workflow on one finding; returns its run id."""
        store = self._findings_store()
        try:
            finding = store.get(fingerprint)
        finally:
            store.close()
        if finding is None:
            raise FindingNotFound(f"no finding with fingerprint {fingerprint}")
        return self.start("reverify", scope=Scope([finding.path]),
                          args={"fingerprint": fingerprint, "finding": finding.to_dict()}, started_by=_default_who())

    def report(self, run_id: str | None, fmt: str = "md") -> str:
        from refute.orchestration.reporting.report import render, skipped_files

        findings_store, edits_store = self._findings_store(), self._edits_store()
        try:
            run = self.run(run_id) if run_id else None
            rid = run.id if run else None
            return render(
                findings_store.list(run_id=rid, include_dismissed=True), run, fmt,
                dropped=findings_store.dropped(rid) if rid else (), edits=edits_store.list(rid),
                dismissals=findings_store.dismissals(), failed_calls=self._failed_calls(rid) if rid else (),
                skipped=skipped_files(self.store.iter_events(rid)) if rid else (),
            )
        finally:
            findings_store.close()
            edits_store.close()

    def _failed_calls(self, run_id: str) -> list[dict[str, Any]]:
        """The failed calls of the run's latest session (a resume tries them again)."""
        failures: list[dict[str, Any]] = []
        for event in self.store.iter_events(run_id):
            if event.get("type") == "run_status" and "failures" in event:
                failures = list(event.get("failures") or [])
        return failures

    def new_workflow(self, request: str, *, timeout: float | None = None) -> str:
        """Have the model write a workflow for `request`; saved as .refute/workflows/NAME.py
        (workspace-relative path returned) for a person to read before running it."""
        from refute.orchestration.sandbox import authoring

        if not request or not request.strip():
            raise EngineError("new_workflow: describe what the workflow should do")
        source = WorkflowSource("new_workflow", authoring.AUTHOR_SCRIPT, "bundled", "(engine) new_workflow.py",
                                static_meta(authoring.AUTHOR_SCRIPT))
        args: dict[str, Any] = {"request": request.strip(), "reference": authoring.reference(),
                                "example": authoring.EXAMPLE, "previous": "", "problems": []}
        limit = timeout or (self.settings.call_timeout_s * 2 + 30)
        text, problems = "", []
        for _attempt in range(2):
            run_id = self._start_source(source, scope=None, args=args, budget=None, provider=None,
                                        max_concurrency=None, started_by=_default_who())
            info = self.wait(run_id, timeout=limit)
            if info.status is not RunStatus.COMPLETED or not isinstance(info.result, str):
                raise EngineError(f"new_workflow: run {run_id} {info.status}: {info.error or 'no script returned'}")
            text = authoring.extract_script(info.result)
            problems = check_source(text)
            if not problems:
                break
            args.update(previous=text, problems=[str(p) for p in problems])
        folder = self.workspace / ".refute" / "workflows"
        folder.mkdir(parents=True, exist_ok=True)
        taken = {p.stem for p in folder.glob("*.py")} | {w.name for w in self.workflows()}
        name = authoring.slug(request, taken)
        header = "".join(f"# refute: problem to fix before running: {p}\n" for p in problems)
        (folder / f"{name}.py").write_text(header + text, encoding="utf-8")
        return (Path(".refute") / "workflows" / f"{name}.py").as_posix()

    # --- lifecycle ---------------------------------------------------------------------------------------

    def active_runs(self) -> list[str]:
        with self._lock:
            return list(self._active)

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout: float = 10.0) -> None:
        """Pause every run this Engine drives (resumable later), then stop its threads.
        `with Engine(workspace) as engine:` closes it on the way out."""
        for run_id in self.active_runs():
            try:
                self.pause(run_id)
            except (RunNotFound, EngineError):
                continue
        deadline = time.monotonic() + timeout
        for run_id in self.active_runs():
            active = self._active.get(run_id)
            if active is not None:
                active.finished.wait(max(deadline - time.monotonic(), 0.1))
                if not active.finished.is_set():
                    _kill(active.proc)
                    active.finished.wait(2.0)
        self._drain_events()
        self._closed.set()
        self._queue.put(None)


# --- helpers -----------------------------------------------------------------------------------------------


def _scope(scope: Scope | dict | None) -> Scope:
    if scope is None:
        return Scope()
    if isinstance(scope, Scope):
        return scope
    if isinstance(scope, dict):
        return Scope.from_dict(scope)
    raise InvalidInput("scope: a Scope or {'paths': [...], 'selection': [a, b]}")


def _source_dict(source: WorkflowSource) -> dict[str, Any]:
    return {"name": source.name, "source": source.source, "origin": source.origin, "path": source.path,
            "meta": source.meta}


def worker_command() -> list[str]:
    """How a worker (run or plan dry run) is started: Python's isolated mode (-I) keeps the
    working directory, PYTHONPATH and the user's site-packages off sys.path, so a
    workspace file named typing.py or a folder named diskcache/ is never imported by
    refute itself (issue 10: before -I, `refute run` imported the workspace's typing.py)."""
    return [sys.executable, "-I", "-m", "refute.orchestration.runtime.worker"]


def worker_cwd() -> str:
    """The worker's working directory: the file-system root, never the workspace (the
    worker uses absolute paths only), so nothing relative resolves into workspace code."""
    return os.path.abspath(os.sep)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass


def _tail(text: str | None, lines: int = 8) -> str:
    if not text:
        return "(no output)"
    return "\n".join(text.strip().splitlines()[-lines:])


def _worker_death(code: int, log_path: Path) -> str:
    try:
        log = log_path.read_text("utf-8", errors="replace")
    except OSError:
        log = ""
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals.__members__.values() else str(-code)
        why = {"SIGXCPU": " (the worker's CPU-time limit)", "SIGKILL": " (killed, perhaps out of memory)"}.get(name, "")
        return f"the run's worker was killed by {name}{why}; resume it with `refute resume`. {_tail(log, 3)}".strip()
    from refute.orchestration.calls.redaction import scrub

    return scrub(f"the run's worker exited with code {code} without finishing: {_tail(log, 5)}")


def _default_who() -> str:
    try:
        import getpass

        return f"{getpass.getuser()}@pid{os.getpid()}"
    except (KeyError, OSError):
        return f"pid{os.getpid()}"
