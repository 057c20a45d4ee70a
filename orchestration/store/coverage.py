"""The coverage ledger: which code each workflow has already searched, at which content.

Why: a whole-repository audit does not fit one run of 1,000 paid calls. A run stops its
finders while it can still verify what they found and says what it did not reach; the
follow-up (`refute run audit --continue RUN`) must cover exactly the rest, and must not
pay again for code audited at the same content. The ledger answers "was this unit
searched, with this workflow and these settings, at this content hash?".

Contract:
- An entry's key is (workflow, config, path, unit content hash). `config` is a hash of
  the workflow's arguments minus the control ones (`CONTROL_ARGS`: skip_covered,
  continues...), so a different `focus` is a different audit, while continuing is not.
- A unit is recorded only when it was searched AND every candidate found in it was
  verified (or dropped by the mechanical check) in a finished call: a unit whose
  candidates were handed to a follow-up run stays uncovered, and the follow-up replays
  its finder from the journal for free and verifies the rest.
- Editing a file changes the content hash of the units that changed (unit ids and
  hashes of untouched units stay: units.py), so only those are searched again.
- Each run's coverage record (searched, not searched and why) is kept under the run id.
- diskcache (SQLite, WAL) under `<workspace>/.refute/state/coverage`, shared by the CLI
  and the language server like the journal. The dry run (`plan`) reads it, never writes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterable

import diskcache

from refute.orchestration.model import stable_hash

CONTROL_ARGS = frozenset({"skip_covered", "continues", "candidate_rate", "wave"})


def config_key(workflow: str, args: dict[str, Any] | None) -> str:
    """What makes two runs the same audit: the workflow and its non-control arguments."""
    relevant = {k: v for k, v in (args or {}).items() if k not in CONTROL_ARGS}
    return stable_hash("coverage/v1", workflow, relevant)[:24]


class CoverageLedger:
    def __init__(self, state_dir: Path):
        self.directory = Path(state_dir) / "coverage"
        self._cache = diskcache.Cache(str(self.directory), eviction_policy="none", size_limit=2**40)

    @staticmethod
    def _unit_key(config: str, unit: dict[str, Any]) -> str:
        return f"unit/{config}/{unit.get('path', '')}/{unit.get('content_hash', '')}"

    def is_covered(self, config: str, unit: dict[str, Any]) -> bool:
        return self._unit_key(config, unit) in self._cache

    def uncovered(self, config: str, units: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [u for u in units if self._unit_key(config, u) not in self._cache]

    def mark(self, config: str, units: Iterable[dict[str, Any]], *, run_id: str) -> int:
        entries = [(self._unit_key(config, u), {"run_id": run_id, "unit_id": u.get("id"), "path": u.get("path"),
                                                "at": time.time()}) for u in units]
        with self._cache.transact():
            for key, value in entries:
                self._cache.set(key, value)
        return len(entries)

    def record_run(self, run_id: str, record: dict[str, Any]) -> None:
        self._cache.set(f"run/{run_id}", record)

    def run_record(self, run_id: str) -> dict[str, Any] | None:
        return self._cache.get(f"run/{run_id}")

    def run_records(self, workflow: str | None = None) -> list[dict[str, Any]]:
        """Coverage records of finished runs (of `workflow`), oldest first."""
        out = []
        for key in list(self._cache.iterkeys()):
            if str(key).startswith("run/"):
                record = self._cache.get(key)
                if isinstance(record, dict) and (workflow is None or record.get("workflow") == workflow):
                    out.append(record)
        return out

    def close(self) -> None:
        self._cache.close()
