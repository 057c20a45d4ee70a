"""`python -m refute.orchestration.runtime.worker`: one run (or one plan) in its own process.

Why a process per run rather than a thread in the Engine:
- Cancel must stop a script within 2 s whatever it is doing. A thread cannot be stopped
  from outside while it spins in pure Python or in one long C call (`10**10**10`,
  a catastrophic regex); a process can be killed. The Engine SIGKILLs the worker on
  cancel; every finished call is already in the journal, so nothing paid for is lost.
- Memory: RLIMIT_AS turns a runaway allocation into a MemoryError at the script's line
  instead of taking the language server (same process as the Engine) down with it;
  RLIMIT_CPU bounds a run that would spin forever with nobody watching.
- Responsiveness: the script, JSON parsing, schema checks and provider I/O run outside
  the language server's process, so its handlers keep answering in milliseconds.
The sandbox's AST guards still refuse obvious size bombs with a clear message; the
limits here are the backstop.

Protocol: the parent writes one JSON line to stdin (the job), then may write control
lines ("pause", "cancel"). End of stdin means the parent died: the worker exits at once
(a SIGKILLed CLI leaves no orphan behind). Events go to the parent as JSON lines on the
original stdout; fd 1 is re-pointed at stderr so nothing else (a print in a provider)
can corrupt the stream. Credentials come from the inherited environment and are never
written to the stream (errors are scrubbed).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from refute.orchestration.model import RunStatus

# Limits, overridable for unusual machines (the defaults leave room for the SDK and
# 16 call threads; glibc's per-thread malloc arenas are capped by MALLOC_ARENA_MAX=2,
# set by the Engine, so address space is not wasted on empty arenas).
DEFAULT_MEMORY_MB = int(os.environ.get("REFUTE_WORKER_MEMORY_MB", "3072"))
DEFAULT_CPU_S = int(os.environ.get("REFUTE_WORKER_CPU_S", "7200"))
# In the editor a run is background work and the language server answering the editor
# is interactive: on a busy machine a run's worker (its script, redaction, journal,
# dozens of call threads) competed with the server for the cores and doubled request
# latency, so the server asks for the lowest priority. A CLI run is what its user is
# waiting for, so by default it keeps the parent's priority. REFUTE_WORKER_NICE
# overrides both (0 keeps the parent's priority).
DEFAULT_NICE = 0
NICE_OVERRIDE = os.environ.get("REFUTE_WORKER_NICE")


class EventWriter:
    def __init__(self, stream: TextIO, run_id: str):
        self._stream = stream
        self._run_id = run_id
        self._lock = threading.Lock()

        self.final_written = False

    def emit(self, type_: str, **fields: Any) -> None:
        event = {"type": type_, "run_id": self._run_id, "ts": time.time(), **fields}
        line = json.dumps(event, ensure_ascii=False, default=str)
        with self._lock:
            if self.final_written:
                return  # the run already ended (a pause can end it from the control thread)
            self._stream.write(line + "\n")
            self._stream.flush()
            if type_ == "run_status" and fields.get("status") not in (RunStatus.RUNNING, None):
                self.final_written = True


def _lower_priority(increment: int) -> None:
    if increment > 0:
        try:
            os.nice(increment)
        except OSError as exc:  # not fatal: the run only competes harder for the CPU
            print(f"worker: could not lower the priority by {increment}: {exc}", file=sys.stderr)


def _set_limits(memory_mb: int, cpu_s: int) -> None:
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if cpu_s > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, hard))


THREAD_STACK_MB = 4


def batch_stack_mb(settings: Any, max_concurrency: int | None = None) -> int:
    """Extra address space for a batch run: up to batch_max_requests calls wait at once,
    each on its own task thread, and every thread reserves its stack. Without this, a
    full batch would fail with "can't start new thread" long before it fills."""
    if not getattr(settings, "batch", False):
        return 0
    from refute.orchestration.calls.scheduler import in_flight_limit, task_threads

    return THREAD_STACK_MB * task_threads(in_flight_limit(settings, max_concurrency), True)


PAUSE_GRACE_S = 12.0  # the Engine kills a pausing worker a little later than this


def _watch_control(driver_box: dict[str, Any]) -> None:
    """Control lines from the parent; EOF means the parent is gone."""
    for line in sys.stdin:
        command = line.strip()
        driver = driver_box.get("driver")
        if command in ("pause", "cancel") and driver is not None:
            driver.stop(command)
            if command == "pause":
                threading.Thread(target=_finish_pause, args=(driver_box,), daemon=True).start()
    os._exit(3)


def _finish_pause(driver_box: dict[str, Any]) -> None:
    """A pause ends once the calls in flight have finished (and are journaled), even if
    the script itself is busy and never calls again."""
    driver, writer = driver_box["driver"], driver_box["writer"]
    driver.scheduler.wait_idle(PAUSE_GRACE_S)
    time.sleep(0.5)  # let a script that is waiting on a call unwind and report by itself
    driver.scheduler.emit_progress()
    writer.emit("run_status", status=RunStatus.PAUSED.value, error="paused by request", result=None, failures=[])
    sys.stdout.flush()
    os._exit(0)


def main() -> int:
    events_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints go to the log, never into the event stream
    out = os.fdopen(events_fd, "w", encoding="utf-8", buffering=1)
    job = json.loads(sys.stdin.readline() or "{}")
    if not job:
        print("worker: no job on stdin", file=sys.stderr)
        return 2
    from refute.orchestration.settings import EngineSettings

    settings = EngineSettings(**job["settings"])  # every field, batch_* included, as the Engine had it
    memory_mb = int(job.get("memory_mb", DEFAULT_MEMORY_MB))
    if job.get("mode") == "run":
        memory_mb += batch_stack_mb(settings, job.get("max_concurrency"))
    _set_limits(memory_mb, int(job.get("cpu_s", DEFAULT_CPU_S)))
    if job.get("mode") == "run":  # a plan is awaited by a person: it keeps the parent's priority
        # Before any thread starts: on Linux the nice value is per thread, and inherited.
        _lower_priority(int(NICE_OVERRIDE) if NICE_OVERRIDE else int(job.get("nice", DEFAULT_NICE)))
    threading.stack_size(THREAD_STACK_MB * 1024 * 1024)  # small stacks: many task threads fit the limit

    from refute.orchestration.model import RunInfo, Scope
    from refute.orchestration.sandbox.scripts import WorkflowSource
    workspace = Path(job["workspace"])
    src = job["source"]
    source = WorkflowSource(src["name"], src["source"], src["origin"], src.get("path"), src.get("meta") or {})
    driver_box: dict[str, Any] = {}
    if job["mode"] == "plan":
        # No control channel: the parent closes stdin at once and kills us on timeout;
        # the CPU limit (set by the parent for plans) ends an orphaned dry run.
        writer = EventWriter(out, "plan")
        from refute.orchestration.runtime import driver as runtime

        try:
            estimate = runtime.plan(workspace=workspace, settings=settings, source=source,
                                    scope=Scope.from_dict(job.get("scope")), args=job.get("args") or {})
            writer.emit("plan", plan=estimate.to_dict())
        except Exception as exc:  # reported to the parent as a clear error
            writer.emit("plan_error", error=f"{type(exc).__name__}: {exc}")
        return 0

    threading.Thread(target=_watch_control, args=(driver_box,), daemon=True, name="control").start()
    run = RunInfo.from_dict(job["run"])
    writer = EventWriter(out, run.id)
    from refute.orchestration.providers import make_provider
    from refute.orchestration.runtime.driver import RunDriver
    from refute.orchestration.calls.redaction import scrub

    try:
        provider = make_provider(settings, workspace)
    except Exception as exc:
        writer.emit("run_status", status="failed", error=scrub(f"provider: {type(exc).__name__}: {exc}"))
        return 1
    driver = RunDriver(workspace=workspace, settings=settings, run=run, source=source, provider=provider,
                       emit=writer.emit, spent_tokens=int(job.get("spent_tokens", 0)),
                       spent_usd=float(job.get("spent_usd", 0.0)), max_concurrency=job.get("max_concurrency"),
                       counted_keys=set(job["counted_keys"]) if job.get("counted_keys") is not None else None)
    driver_box["driver"] = driver
    driver_box["writer"] = writer
    try:
        driver.execute()
    except BaseException as exc:  # an engine bug must still end the run loudly
        writer.emit("run_status", status="failed",
                    error=scrub(f"engine error: {type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}"))
        return 1
    finally:
        try:
            provider.close()
        finally:
            driver.close()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # don't wait for abandoned call threads
