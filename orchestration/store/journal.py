"""The journal: every finished agent call, keyed by the content of what was asked.

diskcache (SQLite in WAL mode) under `<workspace>/.refute/state/journal`, safe to share
between the CLI and the language server processes. `record` returns only after SQLite
has committed, so a result is durable before the script sees it; a process killed with
SIGKILL loses at most the calls that were in flight (SQLite's NORMAL synchronous mode
survives process crashes; only a power cut can lose the last commits). Only successful
calls are recorded: a failed call is tried again on resume. The journal holds results,
model names and labels, never credentials (errors are scrubbed before they reach events).

Files an agent read (its tools' reads): the answer of a call with tools depends on files
its request does not contain, so each entry records `reads` ({path: sha256}, from
CallResult.reads) and `get(key, workspace=...)` replays it only while every one of those
files still has that hash (`reads_unchanged`). A changed file makes the entry a miss, and
the new answer replaces it. The key itself stays the content of what was asked plus the
occurrence number (scheduler.occurrence_key).
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Any

import diskcache

from refute.orchestration.model import CallRequest, CallResult

_PREFIX = "call/"


class Journal:
    def __init__(self, state_dir: Path):
        self.directory = Path(state_dir) / "journal"
        # Never evict: a journal entry dropped to make room would be paid for again.
        self._cache = diskcache.Cache(str(self.directory), eviction_policy="none", size_limit=2**62)
        self._write_lock = threading.Lock()

    def get(self, key: str, *, workspace: str | Path | None = None) -> CallResult | None:
        """The stored answer, or None. With `workspace`, an answer whose agent read files
        that changed since is a miss (it would be stale)."""
        record = self._cache.get(_PREFIX + key)
        if record is None:
            return None
        reads = record.get("reads") or {}
        if reads and workspace is not None and not reads_unchanged(Path(workspace), reads):
            return None
        result = CallResult.from_dict(record["result"])
        result.run_id = str(record.get("run_id") or "")
        result.reads = dict(reads)
        return result

    def entry(self, key: str) -> dict[str, Any] | None:
        """The stored record of a call: {"result", "model", "label", "role", "run_id",
        "finished_at"}; read-only (refute eval reads the finders' raw answers by role)."""
        record = self._cache.get(_PREFIX + key)
        return dict(record) if record is not None else None

    def record(self, request: CallRequest, result: CallResult, *, run_id: str, key: str | None = None) -> None:
        entry: dict[str, Any] = {
            "result": _result_dict(result),
            "model": request.model,
            "label": request.label,
            "role": request.role,
            "run_id": run_id,
            "finished_at": time.time(),
            "reads": dict(result.reads or {}),
        }
        full_key = _PREFIX + (key or request.key())
        with self._write_lock:  # queue our own threads here rather than in SQLite's busy-wait sleeps
            self._cache.set(full_key, entry)

    def __contains__(self, key: str) -> bool:
        return (_PREFIX + key) in self._cache

    def __len__(self) -> int:
        return sum(1 for k in self._cache.iterkeys() if isinstance(k, str) and k.startswith(_PREFIX))

    def close(self) -> None:
        self._cache.close()


def file_hash(path: Path) -> str | None:
    """sha256 of a file's bytes, or None when it cannot be read."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def reads_unchanged(workspace: Path, reads: dict[str, str]) -> bool:
    """Whether every file in `reads` ({workspace-relative path: sha256}) is unchanged."""
    return all(file_hash(workspace / rel) == digest for rel, digest in reads.items())


def _result_dict(result: CallResult) -> dict[str, Any]:
    """CallResult.to_dict without dataclasses.asdict's deep copy (this runs once per call)."""
    u = result.usage
    return {
        "text": result.text, "data": result.data, "cost_usd": result.cost_usd, "model": result.model,
        "provider": result.provider, "stop_reason": result.stop_reason, "latency_s": result.latency_s,
        "replayed": False, "estimated_usage": result.estimated_usage,
        "usage": {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
                  "cache_write_tokens": u.cache_write_tokens, "cache_read_tokens": u.cache_read_tokens},
    }
