"""Shared helpers for the engine's unit tests."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from refute.orchestration.model import Budget, CallRequest, CallResult, RunInfo, Scope, Usage
from refute.orchestration.runtime.driver import RunDriver
from refute.orchestration.sandbox.scripts import WorkflowSource
from refute.orchestration.settings import EngineSettings


def test_units(workspace: Path) -> Callable[[Scope, int], list[dict[str, Any]]]:
    """Work units from refute.analysis.plan when it exists; line chunks otherwise (tests only)."""

    def units(scope: Scope, max_tokens: int) -> list[dict[str, Any]]:
        try:
            from refute.analysis.plan import plan_workspace
        except ImportError:
            return _line_chunks(workspace, scope)
        result = plan_workspace(workspace, paths=tuple(scope.paths), selection=scope.selection,
                                max_unit_tokens=max_tokens, cache_dir=workspace / ".refute" / "state" / "units")
        return [u.to_dict() for u in result.units]

    return units


def _line_chunks(workspace: Path, scope: Scope, lines_per_unit: int = 20) -> list[dict[str, Any]]:
    files = sorted(p for p in workspace.rglob("*.py") if ".refute" not in p.parts)
    if scope.paths:
        files = [f for f in files if any(f.relative_to(workspace).as_posix().startswith(p) for p in scope.paths)]
    out = []
    for f in files:
        lines = f.read_text().splitlines()
        for start in range(0, len(lines), lines_per_unit):
            text = "\n".join(lines[start:start + lines_per_unit])
            rel = f.relative_to(workspace).as_posix()
            out.append({"id": f"{rel}:{start}", "path": rel, "language": "python", "start_line": start,
                        "end_line": min(start + lines_per_unit, len(lines)) - 1, "text": text,
                        "content_hash": str(hash(text)), "symbol": None, "header": ""})
    return out


class InstrumentedProvider:
    """A provider whose answers, latency and faults come from a function; it counts calls
    and the peak number of calls in flight."""

    name = "scripted"

    def __init__(self, answer: Callable[[CallRequest], Any] | None = None, *, latency: float | Callable[[CallRequest], float] = 0.0,
                 usage: Callable[[CallRequest], Usage] | None = None, worst: Callable[[CallRequest], tuple[int, float]] | None = None):
        self.answer = answer or (lambda req: "ok")
        self.latency = latency
        self.usage = usage or (lambda req: Usage(input_tokens=10, output_tokens=5))
        self.worst = worst or (lambda req: (1000, 0.01))
        self.lock = threading.Lock()
        self.calls: list[CallRequest] = []
        self.in_flight = 0
        self.peak = 0
        self.starts: list[tuple[str, float]] = []

    def worst_case(self, request: CallRequest) -> tuple[int, float]:
        return self.worst(request)

    def call(self, request: CallRequest, ctx) -> CallResult:
        with self.lock:
            self.calls.append(request)
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            self.starts.append((request.label or request.prompt, time.monotonic()))
        try:
            latency = self.latency(request) if callable(self.latency) else self.latency
            if latency:
                ctx.cancelled.wait(latency)
            reply = self.answer(request)
            if isinstance(reply, BaseException):
                raise reply
            data = reply if not isinstance(reply, str) else None
            return CallResult(text=reply if isinstance(reply, str) else "{}", data=data, usage=self.usage(request),
                              model=request.model, provider=self.name, cost_usd=0.0)
        finally:
            with self.lock:
                self.in_flight -= 1

    def close(self) -> None:
        pass


def driver(tmp_path: Path, source: str, provider: Any, *, budget: Budget | None = None, args: dict | None = None,
           settings: EngineSettings | None = None, events: list | None = None, run_id: str = "run-1",
           **kwargs: Any) -> RunDriver:
    events = events if events is not None else []
    run = RunInfo(id=run_id, workflow="t", script_hash="h", args=args or {}, scope=Scope(), status="queued",
                  budget=budget or Budget(), provider="scripted")
    return RunDriver(workspace=tmp_path, settings=settings or EngineSettings(provider="scripted"), run=run,
                     source=WorkflowSource("t", source, "file", "t.py"), provider=provider,
                     emit=lambda type_, **f: events.append({"type": type_, **f}), units_fn=test_units(tmp_path),
                     **kwargs)


def script(body: str, meta: str = '{"name": "t", "description": "test", "phases": [], "args": {}}') -> str:
    """A workflow with `body` as main(args)'s body (indented by the caller's 4 spaces)."""
    return f"meta = {meta}\n\ndef main(args):\n{body}\n"
