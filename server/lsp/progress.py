"""Per-run work-done progress and `refute/runUpdate` notifications.

Every run gets a server-initiated progress with a fresh token (a token may be created
only once), cancellable: `window/workDoneProgress/cancel` on it cancels the run. Reports
are throttled (a 1,000-call run would otherwise send thousands of notifications); the
latest numbers always go out, and `end` always follows `begin`, even when the run
finishes before the client has answered the create request.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from refute.orchestration.model import JSONObject, RunEvent, RunStatus

from .session import Session

RUN_UPDATE = "refute/runUpdate"
REPORT_INTERVAL_S = 0.1
TITLE_WAIT_S = 0.5
SKIPPED_NAMED = 5  # skipped files named in the end-of-run message; the report has all
_token_counter = itertools.count(1)


@dataclass
class RunState:
    run_id: str
    workflow: str = ""
    status: RunStatus = RunStatus.QUEUED
    phase: str = ""
    calls_done: int = 0
    in_flight: int = 0
    calls_failed: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    planned_calls: int | None = None
    findings: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)  # files nobody looked at, and why
    error: str | None = None
    provider: str = ""
    token: str | None = None
    progress: str = "none"  # none | creating | created | begun | ended | unsupported
    last_report: float = 0.0
    report_handle: asyncio.TimerHandle | None = None
    percentage: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def finished(self) -> bool:
        """Ended for good unless resumed: RunStatus.finished (the CLI's meaning too), or
        interrupted (a run another process drove whose driver died: store/run_tail.py)."""
        return self.status.finished or self.status is RunStatus.INTERRUPTED

    @property
    def stopped(self) -> bool:
        """Finished or paused: its progress has ended; a resume starts a new one."""
        return self.finished or self.status is RunStatus.PAUSED

    def update(self) -> dict[str, Any]:
        return {
            "runId": self.run_id,
            "workflow": self.workflow,
            "status": self.status.value,
            "phase": self.phase,
            "callsDone": self.calls_done,
            "inFlight": self.in_flight,
            "callsFailed": self.calls_failed,
            "tokens": self.tokens,
            "costUsd": round(self.cost_usd, 6),
            "skipped": len(self.skipped),
        }

    def message(self) -> str:
        parts = []
        if self.phase:
            parts.append(self.phase)
        calls = f"{self.calls_done}"
        if self.planned_calls and self.calls_done <= self.planned_calls:
            calls += f"/{self.planned_calls}"  # the plan is an estimate: once passed, drop it
        parts.append(f"{calls} calls, {self.in_flight} in flight")
        if self.calls_failed:
            parts.append(f"{self.calls_failed} failed")
        parts.append(f"{_tokens(self.tokens)} tokens, ${self.cost_usd:.2f}")
        if self.findings:
            parts.append(f"{self.findings} findings")
        if self.provider == "scripted":
            parts.append("scripted")
        return " · ".join(parts)

    def end_message(self) -> str:
        text = f"{self.status}: {self.calls_done} calls, {self.findings} findings, ${self.cost_usd:.2f}"
        if self.calls_failed:
            text += f", {self.calls_failed} calls failed"
        if self.skipped:
            text += f", {len(self.skipped)} files skipped"
        if self.error:
            text += f" — {self.error}"
        return text


def _tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 1000 else str(n)


class RunTracker:
    """The runs this server shows: tracked from engine events and from the commands that
    start them (`Session.announce_run`); `idle_listeners` hear when the last active run
    has ended or paused."""

    def __init__(self, session: Session):
        self.session = session
        self.runs: dict[str, RunState] = {}
        self.by_token: dict[str, str] = {}
        self.idle_listeners: list[Callable[[], None]] = []

    def active(self) -> list[RunState]:
        return [r for r in self.runs.values() if not r.stopped]

    def track(self, run_id: str, workflow: str = "", planned_calls: int | None = None) -> RunState:
        state = self.runs.get(run_id)
        if state is None:
            state = RunState(run_id)
            self.runs[run_id] = state
            self._create_progress(state)
            if not workflow:
                # Events can arrive before the command that started the run returns.
                asyncio.ensure_future(self._fill_workflow(state))
        if workflow:
            state.workflow = workflow
        if planned_calls:
            state.planned_calls = planned_calls
        if state.workflow and state.progress == "created":
            self._begin(state)
        return state

    async def _fill_workflow(self, state: RunState) -> None:
        await asyncio.sleep(0.05)
        if state.workflow:
            return
        try:
            info = await self.session.engine_call("run", state.run_id)
            state.workflow = state.workflow or info.workflow
            state.provider = state.provider or info.provider
        except Exception:
            return  # the title falls back to the run id
        if state.progress == "created":
            self._begin(state)

    # --- events ---------------------------------------------------------------------

    def on_event(self, run_event: RunEvent) -> None:
        run_id, kind, event = run_event.run_id, run_event.type, run_event.data
        if not run_id:
            return
        state = self.track(run_id)
        if kind == "run_status":
            was_stopped = state.stopped
            state.status = run_event.status or state.status
            error = event.get("error")
            state.error = str(error) if error is not None and state.status is not RunStatus.RUNNING else None
            if state.status is RunStatus.RUNNING and was_stopped:
                self._restart(state)  # resumed: a new progress with a fresh token
            self._send_update(state)
            if state.stopped:
                self._finish(state)
            return
        if kind == "phase":
            state.phase = str(event.get("name") or "")
        elif kind == "progress":
            # Worker threads emit concurrently: counts only ever grow.
            state.calls_done = max(state.calls_done, int(event.get("calls_done") or 0))
            state.in_flight = int(event.get("in_flight", state.in_flight) or 0)
            state.calls_failed = max(state.calls_failed, int(event.get("calls_failed") or 0))
            state.tokens = max(state.tokens, int(event.get("tokens") or 0))
            state.cost_usd = max(state.cost_usd, float(event.get("cost_usd") or 0.0))
            state.phase = str(event.get("phase") or state.phase)
        elif kind == "call_started":
            state.in_flight += 1
        elif kind == "call_finished":
            # Counted per call so the numbers move between the scheduler's progress events.
            state.provider = str(event.get("provider") or state.provider)
            state.calls_done += 1
            state.in_flight = max(0, state.in_flight - 1)
            if not event.get("replayed"):
                _add_spend(state, event)
        elif kind == "call_failed":
            # A failed call may still have been paid for (invalid output, truncation).
            state.calls_failed += 1
            state.in_flight = max(0, state.in_flight - 1)
            _add_spend(state, event)
        elif kind == "finding":
            state.findings += 1
        elif kind == "files_skipped":
            state.skipped.extend(f for f in event.get("files") or [] if isinstance(f, dict))
        else:
            return
        if state.status is RunStatus.QUEUED:
            state.status = RunStatus.RUNNING
        self._schedule_report(state)

    # --- progress -------------------------------------------------------------------

    def _create_progress(self, state: RunState) -> None:
        if not self.session.support.work_done_progress:
            state.progress = "unsupported"
            return
        state.token = f"refute-run-{state.run_id}-{next(_token_counter)}"
        self.by_token[state.token] = state.run_id
        state.progress = "creating"

        def created(future: asyncio.Future) -> None:
            if future.cancelled() or future.exception() is not None:
                state.progress = "unsupported"
                return
            state.progress = "created"
            if state.workflow or state.finished:
                self._begin(state)
            else:
                # The run's first events can beat the command that names its workflow:
                # give the title a moment to be known, then begin regardless.
                asyncio.get_running_loop().call_later(TITLE_WAIT_S, self._begin, state)

        try:
            fut = asyncio.ensure_future(
                self.session.client.window_work_done_progress_create_async(types.WorkDoneProgressCreateParams(token=state.token))
            )
            fut.add_done_callback(created)
        except Exception:
            state.progress = "unsupported"

    def _begin(self, state: RunState) -> None:
        if state.progress != "created":
            return
        self.session.client.work_done_progress.begin(
            state.token,
            types.WorkDoneProgressBegin(
                title=f"refute: {state.workflow or state.run_id}",
                cancellable=True,
                message=state.message(),
                percentage=0 if state.planned_calls else None,
            ),
        )
        state.progress = "begun"
        if state.finished:
            self._end(state)
        else:
            self._report(state)

    def _schedule_report(self, state: RunState) -> None:
        if state.report_handle is not None:
            return
        wait = max(0.0, REPORT_INTERVAL_S - (time.monotonic() - state.last_report))
        state.report_handle = asyncio.get_running_loop().call_later(wait, self._report, state)

    def _report(self, state: RunState) -> None:
        if state.report_handle is not None:
            state.report_handle.cancel()
            state.report_handle = None
        state.last_report = time.monotonic()
        if state.finished:
            return
        if state.progress == "begun":
            percentage = None
            if state.planned_calls:
                # Monotonic and below 100 until the run really ends.
                state.percentage = max(state.percentage, min(99, state.calls_done * 100 // state.planned_calls))
                percentage = state.percentage
            self.session.client.work_done_progress.report(
                state.token, types.WorkDoneProgressReport(message=state.message(), cancellable=True, percentage=percentage)
            )
        self._send_update(state)

    def _send_update(self, state: RunState) -> None:
        try:
            self.session.client.protocol.notify(RUN_UPDATE, state.update())
        except Exception as exc:
            self.session.log_warning(f"refute: could not send {RUN_UPDATE}: {exc}")

    def _finish(self, state: RunState) -> None:
        if state.report_handle is not None:
            state.report_handle.cancel()
            state.report_handle = None
        state.in_flight = 0
        if state.progress == "created":
            self._begin(state)  # begin, then end at once: a progress is never left open
        elif state.progress == "begun":
            self._end(state)
        state.done.set()
        if state.skipped:
            # A binary, huge, non-UTF-8 or secret file must not look audited and clean.
            shown = "; ".join(f"{f.get('path')} ({f.get('reason')})" for f in state.skipped[:SKIPPED_NAMED])
            more = f"; and {len(state.skipped) - SKIPPED_NAMED} more" if len(state.skipped) > SKIPPED_NAMED else ""
            self.session.client.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Info,
                message=f"refute: {state.workflow or 'run'} {state.run_id} skipped {len(state.skipped)} file(s), "
                        f"not looked at: {shown}{more} (the run's report lists them all)"))
        if state.status in (RunStatus.FAILED, RunStatus.COMPLETED_WITH_FAILURES):
            # Failures are loud: a failed run is never just a quiet progress end.
            kind = types.MessageType.Error if state.status is RunStatus.FAILED else types.MessageType.Warning
            name = state.workflow or "run"
            self.session.client.window_show_message(
                types.ShowMessageParams(type=kind, message=f"refute: {name} {state.run_id} {state.end_message()}")
            )
        if not self.active():
            for listener in list(self.idle_listeners):
                listener()

    def _restart(self, state: RunState) -> None:
        """A paused (or stopped) run that resumes gets a new progress: a token may be
        created only once, and the old progress has ended."""
        state.done = asyncio.Event()
        state.percentage = 0
        state.in_flight = 0
        # A resumed run counts its calls again from zero (replays included).
        state.calls_done = state.calls_failed = 0
        if state.progress != "unsupported":
            self._create_progress(state)

    def _end(self, state: RunState) -> None:
        self.session.client.work_done_progress.end(state.token, types.WorkDoneProgressEnd(message=state.end_message()))
        state.progress = "ended"

    def end_all(self, reason: str) -> None:
        for state in self.runs.values():
            if state.progress == "begun":
                state.error = state.error or reason
                try:
                    self._end(state)
                except Exception:
                    pass

    async def cancel_by_token(self, token: str) -> None:
        run_id = self.by_token.get(str(token))
        if run_id is None:
            return
        try:
            await self.session.engine_call("cancel", run_id)
        except Exception as exc:
            self.session.log_warning(f"refute: could not cancel run {run_id}: {exc}")


def register(server: LanguageServer, session: Session) -> RunTracker:
    runs = RunTracker(session)
    session.event_listeners.append(runs.on_event)
    session.run_listeners.append(runs.track)

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    async def progress_cancel(params: types.WorkDoneProgressCancelParams) -> None:
        await runs.cancel_by_token(str(params.token))

    return runs


def _add_spend(state: RunState, event: JSONObject) -> None:
    usage = event.get("usage") or {}
    state.tokens += sum(int(v or 0) for v in usage.values() if isinstance(v, (int, float)))
    state.cost_usd += float(event.get("cost_usd") or 0.0)
