"""Call leases: processes that share a workspace share the calls in flight.

Two `refute run audit` at once in one workspace used to pay 134 of 153 calls twice: the
journal (keyed by the content of a call) only helps once a call has *finished*, and
both runs asked at the same moment. Before a scheduler pays for a call it now claims the
call's key here; a process that finds the key claimed by another live process waits for
that call's result to appear in the journal and replays it at zero cost. If the holder
finishes without a result (its call failed) or dies (SIGKILL, a crash) the lease is
released or becomes stale, and the waiter claims the key and pays for the call itself.

Store: a diskcache (SQLite, WAL) at `<state>/leases`, beside the journal; one record per
claimed key, `{"holder", "pid", "claimed_at"}`, written inside a transaction so exactly
one process wins a claim. A lease is stale when its holder's process no longer exists
(`os.kill(pid, 0)`) or it is older than `ttl_s` (a guard against pid reuse; the
scheduler sets it well above its worst call time). Same-machine only, as the journal is.
Cost: a claim and a release are one small SQLite transaction each (about 1 ms here).
Invariant (tested): for one key, at most one live process pays at a time.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import diskcache

_PREFIX = "lease/"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process with that pid: alive
        return True
    except OSError:
        return False
    return True


class CallLeases:
    def __init__(self, state_dir: Path, *, run_id: str = "", ttl_s: float = 3600.0):
        self.directory = Path(state_dir) / "leases"
        self._cache = diskcache.Cache(str(self.directory), eviction_policy="none", size_limit=2**40)
        self.holder = f"{os.getpid()}:{run_id}:{uuid.uuid4().hex[:8]}"
        self.ttl_s = ttl_s
        self._lock = threading.Lock()

    def claim(self, key: str) -> bool:
        """True when this process now holds `key` (it was free, stale or already ours)."""
        with self._lock, self._cache.transact():
            current = self._cache.get(_PREFIX + key)
            if current is not None and current.get("holder") != self.holder and not self._stale(current):
                return False
            self._cache.set(_PREFIX + key, {"holder": self.holder, "pid": os.getpid(), "claimed_at": time.time()})
            return True

    def release(self, key: str) -> None:
        with self._lock, self._cache.transact():
            current = self._cache.get(_PREFIX + key)
            if current is not None and current.get("holder") == self.holder:
                self._cache.delete(_PREFIX + key)

    def held_elsewhere(self, key: str) -> bool:
        """Whether another live process holds `key` right now."""
        current = self._cache.get(_PREFIX + key)
        return current is not None and current.get("holder") != self.holder and not self._stale(current)

    def _stale(self, lease: dict[str, Any]) -> bool:
        if time.time() - float(lease.get("claimed_at", 0)) > self.ttl_s:
            return True
        pid = int(lease.get("pid", 0))
        return pid <= 0 or not pid_alive(pid)

    def close(self) -> None:
        self._cache.close()


__all__ = ["CallLeases", "pid_alive"]
