"""The run store: one folder per run under `<workspace>/.refute/state/runs/<id>/`.

- run.json      RunInfo (status, counters, budget, error, result), replaced atomically;
- script.py     the exact script the run started with (resume runs this copy, so a run is
                tied to its script hash even if the workflow file changed since);
- launch.json   the settings it was launched with (provider, models, limits: no secrets);
- events.jsonl  the append-only audit log: every event, one JSON object per line;
- control       "pause" or "cancel" written by another process (`refute cancel RUN`);
                the process driving the run polls it;
- lock          held with flock(2) by the process driving the run, and naming its pid.
                The kernel drops the lock when that process dies, even by SIGKILL, so a
                resume takes it over without guessing whether the pid is alive.
Only the driving process writes run.json and events.jsonl.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import socket
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

from refute.orchestration.errors import NotAllowed, NotFound
from refute.orchestration.model import RunInfo
from refute.orchestration.sandbox.scripts import WorkflowSource
from refute.orchestration.settings import EngineSettings


class RunNotFound(NotFound):
    """No run with that id (or unique prefix) in this workspace."""


class RunLocked(NotAllowed):
    """Another live process drives this run."""


def ensure_state_dir(workspace: Path) -> Path:
    """`.refute/state/`, creating `.refute/.gitignore` (ignoring `state/`) the first time."""
    refute_dir = Path(workspace) / ".refute"
    state = refute_dir / "state"
    state.mkdir(parents=True, exist_ok=True)
    ignore = refute_dir / ".gitignore"
    if not ignore.exists():
        ignore.write_text("state/\n", encoding="utf-8")
    return state


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class RunLock:
    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = read_lock_owner(self.path)
            raise RunLocked(
                f"run is driven by another live process (pid {owner.get('pid', '?')} on {owner.get('host', '?')}); "
                "cancel or pause it there, or with `refute cancel RUN`"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None


def read_lock_owner(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text("utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def lock_is_held(path: Path) -> bool:
    """True when some live process holds the run's lock (this one included)."""
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class RunStore:
    def __init__(self, state_dir: Path):
        self.root = Path(state_dir) / "runs"
        self.root.mkdir(parents=True, exist_ok=True)
        self._append_lock = threading.Lock()  # one writer per line, even for lines past the buffer size
        self._event_logs: dict[str, Any] = {}  # run id -> open audit log, while this process drives it

    @staticmethod
    def new_id() -> str:
        return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)

    def dir(self, run_id: str) -> Path:
        return self.root / run_id

    def resolve_id(self, run_id: str) -> str:
        """A full id from an id or a unique prefix of one."""
        if (self.root / run_id / "run.json").exists():
            return run_id
        matches = [p.name for p in self.root.glob(f"{run_id}*") if (p / "run.json").exists()] if run_id else []
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise RunNotFound(f"no run {run_id!r} in {self.root}")
        raise RunNotFound(f"run id {run_id!r} is ambiguous: {', '.join(sorted(matches)[:5])}")

    # --- records -----------------------------------------------------------------------

    def create(self, info: RunInfo, source: WorkflowSource, settings: EngineSettings) -> None:
        folder = self.dir(info.id)
        folder.mkdir(parents=True, exist_ok=False)
        _atomic_write(folder / "script.py", source.source)
        launch = {"settings": asdict(settings), "workflow": {"name": source.name, "origin": source.origin,
                                                             "path": source.path, "meta": source.meta}}
        _atomic_write(folder / "launch.json", json.dumps(launch, indent=2, default=str))
        self.save(info)

    def save(self, info: RunInfo) -> None:
        _atomic_write(self.dir(info.id) / "run.json", json.dumps(info.to_dict(), indent=2, default=str))

    def load(self, run_id: str) -> RunInfo:
        run_id = self.resolve_id(run_id)
        try:
            return RunInfo.from_dict(json.loads((self.dir(run_id) / "run.json").read_text("utf-8")))
        except (OSError, ValueError) as exc:
            raise RunNotFound(f"run {run_id}: cannot read run.json ({exc})") from None

    def list(self) -> list[RunInfo]:
        out = []
        for folder in self.root.iterdir():
            if (folder / "run.json").exists():
                try:
                    out.append(self.load(folder.name))
                except RunNotFound:
                    continue
        return sorted(out, key=lambda r: (r.created_at, r.id))

    def source(self, run_id: str) -> WorkflowSource:
        folder = self.dir(self.resolve_id(run_id))
        launch = json.loads((folder / "launch.json").read_text("utf-8"))
        wf = launch["workflow"]
        return WorkflowSource(wf["name"], (folder / "script.py").read_text("utf-8"), "stored", wf.get("path"),
                              wf.get("meta") or {})

    def launch_settings(self, run_id: str) -> EngineSettings:
        folder = self.dir(self.resolve_id(run_id))
        stored = json.loads((folder / "launch.json").read_text("utf-8"))["settings"]
        known = set(EngineSettings.__dataclass_fields__)
        return EngineSettings(**{k: v for k, v in stored.items() if k in known})

    # --- events ------------------------------------------------------------------------

    def append_events(self, run_id: str, events: list[dict[str, Any]], *, keep_open: bool = False) -> None:
        """Append to the run's audit log. The driving process keeps the handle open
        (`keep_open`, until `close_events`): one open per event showed up in editor latency
        under load. Each append is flushed, so other processes see it at once."""
        self.append_encoded(run_id, [json.dumps(event, ensure_ascii=False, default=str) for event in events],
                            keep_open=keep_open)

    def append_encoded(self, run_id: str, lines: list[str], *, keep_open: bool = False) -> None:
        """Append events that are already JSON text, one object per string (no newlines
        inside: json.dumps never writes one), in one write."""
        if not lines:
            return
        text = "\n".join(lines) + "\n"
        with self._append_lock:
            fh = self._event_logs.get(run_id)
            if fh is None:
                fh = self._event_logs[run_id] = open(self.dir(run_id) / "events.jsonl", "a", encoding="utf-8")
            fh.write(text)
            fh.flush()
            if not keep_open:
                self._event_logs.pop(run_id).close()

    def close_events(self, run_id: str) -> None:
        with self._append_lock:
            fh = self._event_logs.pop(run_id, None)
        if fh is not None:
            fh.close()

    def iter_events(self, run_id: str) -> Iterator[dict[str, Any]]:
        path = self.dir(self.resolve_id(run_id)) / "events.jsonl"
        if not path.exists():
            return
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except ValueError:
                    continue  # a line cut short by a crash: the rest of the log is still good

    # --- control and lock ---------------------------------------------------------------

    def request(self, run_id: str, command: str) -> None:
        _atomic_write(self.dir(self.resolve_id(run_id)) / "control", command)

    def pending_request(self, run_id: str) -> str | None:
        try:
            return (self.dir(run_id) / "control").read_text("utf-8").strip() or None
        except OSError:
            return None

    def clear_request(self, run_id: str) -> None:
        try:
            (self.dir(run_id) / "control").unlink()
        except FileNotFoundError:
            pass

    def lock(self, run_id: str) -> RunLock:
        return RunLock(self.dir(run_id) / "lock")

    def is_driven(self, run_id: str) -> bool:
        return lock_is_held(self.dir(self.resolve_id(run_id)) / "lock")
