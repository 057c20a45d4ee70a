"""Dedup of candidate findings by place and kind, across units and across runs.

Two candidates are the same finding when they are in the same file, of the same family,
and their quoted lines are close: the family is the CWE family for a finding with a CWE
id (CWE-89 and CWE-564 are both SQL injection) and then "close" is within
`WINDOW_LINES` lines (agents quote the source or the sink of one vulnerability); else
the family is the category ("bug", "concurrency"...) and the quoted line ranges must
overlap, because two different bugs often sit a few lines apart (measured: a 5-line
window for plain categories cost bench/verify.py 23 points of recall, merging true
findings into refuted neighbours). Why: per-unit finders and component researchers with
different lenses see the same code (units overlap in context, lenses overlap in
concern), and a follow-up run sees what the last one reported. Fingerprints (path,
category, normalised quote) miss these: two agents quote different lines of one bug.
Anthropic's security-scan workflow dedups by (file, line, CWE family); a window of lines
is the same rule made robust to agents quoting neighbouring lines.

Dedup happens BEFORE verification, so a duplicate costs no refuter calls; the merge is
recorded (an event in the run, and on the stored finding it merged into).

Determinism (the same candidates give the same survivors and the same merge records,
whatever order they arrive in; tests/unit/verification/test_dedup_order.py):
- Within a run, the survivor of a group is the candidate that comes first in a stable
  order, not the first to arrive: `sweep` (calls/capacity.py) decides each item's
  candidates in item order, then the finder's order (`Deduper.decide` is called under a
  turn per item), and the script's `dedup()` returns that decision. Outside `sweep`
  (a script calling `dedup` from its own `parallel`), decisions follow arrival order.
- Across runs, a candidate is compared with the findings EARLIER runs stored, taken once
  when the run starts (`StoredPlace`), never with what this run stores meanwhile (that
  would depend on which refuter finished first). A candidate that quotes the same code
  as a stored finding of its family IS that finding: it is verified again, which on
  unchanged code replays its refuters from the journal at no cost, so a second identical
  run is a free replay with the same findings. Only a different quote near a stored
  finding merges into it.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any, Iterable

WINDOW_LINES = 3

# CWE ids grouped into families (a candidate's family is the first group naming its id).
_CWE_FAMILIES: dict[str, tuple[int, ...]] = {
    "injection": (74, 75, 77, 78, 88, 89, 90, 91, 93, 94, 95, 96, 97, 113, 564, 643, 652, 917, 943, 1336),
    "xss": (79, 80, 83, 87),
    "path-traversal": (22, 23, 24, 35, 36, 59, 73, 434),
    "deserialization": (502, 915),
    "access-control": (284, 285, 287, 288, 290, 306, 307, 639, 640, 862, 863, 1390),
    "crypto": (295, 297, 310, 319, 326, 327, 328, 329, 330, 331, 335, 338, 347, 916),
    "secrets": (256, 259, 312, 321, 522, 798),
    "memory": (119, 120, 121, 122, 125, 131, 190, 191, 415, 416, 476, 680, 787, 805, 824),
    "ssrf": (918,),
    "xxe": (611, 776),
    "redirect": (601,),
    "race": (362, 364, 366, 367),
    "resource": (400, 401, 404, 770, 772, 775, 789, 1333),
    "exposure": (200, 201, 209, 532, 538),
    "csrf": (352,),
}
_FAMILY_OF = {cwe: name for name, ids in _CWE_FAMILIES.items() for cwe in ids}


def family(candidate: dict[str, Any]) -> str:
    """'cwe:injection' (or 'cwe:<id>' for an id in no family) when a CWE id is given, else
    the lower-cased category ('bug' by default)."""
    match = re.search(r"(\d+)", str(candidate.get("cwe") or ""))
    if match:
        cwe = int(match.group(1))
        return "cwe:" + _FAMILY_OF.get(cwe, str(cwe))
    return str(candidate.get("category") or "bug").strip().lower() or "bug"


def window_for(kind: str) -> int:
    return WINDOW_LINES if kind.startswith("cwe:") else 0


@dataclass(frozen=True)
class StoredPlace:
    """Where a finding an earlier run stored sits: 1-based lines, its family, its quote."""

    path: str
    first: int
    last: int
    kind: str
    quote: str  # normalised (verification/findings.normalise_quote)
    fingerprint: str


@dataclass(frozen=True)
class Merge:
    """A candidate merged into `into` (the surviving candidate's title for a merge within
    the run, the stored finding's fingerprint for a merge into an earlier run's finding)."""

    into: str
    where: str  # "run" | "stored"


def _close(a: tuple[int, int], b: tuple[int, int], window: int) -> bool:
    return a[0] <= b[1] + window and b[0] <= a[1] + window


class Deduper:
    """Candidates of one run, by place and family, and the findings earlier runs stored.
    Thread-safe (task threads call it); deterministic when called in a stable order."""

    def __init__(self, stored: Iterable[StoredPlace] = ()) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], list[tuple[int, int, dict[str, Any]]]] = {}
        self._stored: dict[tuple[str, str], list[StoredPlace]] = {}
        for place in sorted(stored, key=lambda p: (p.path, p.kind, p.first, p.last, p.fingerprint)):
            self._stored.setdefault((place.path, place.kind), []).append(place)

    def first_of(self, path: str, lines: tuple[int, int], kind: str, entry: dict[str, Any]) -> dict[str, Any] | None:
        """The earlier entry of this run this one duplicates, or None (then this one is
        remembered). `lines`: the candidate's quoted lines (first, last)."""
        with self._lock:
            return self._first_of(path, lines, kind, entry)

    def _first_of(self, path: str, lines: tuple[int, int], kind: str, entry: dict[str, Any]) -> dict[str, Any] | None:
        window = window_for(kind)
        bucket = self._seen.setdefault((path, kind), [])
        for other_start, other_end, other in bucket:
            if _close(lines, (other_start, other_end), window):
                return other
        bucket.append((lines[0], lines[1], entry))
        return None

    def decide(self, path: str, lines: tuple[int, int], kind: str, quote: str, entry: dict[str, Any]) -> Merge | None:
        """None when the candidate is new (it is remembered, and verified by the caller);
        else the Merge: into an earlier candidate of this run, else into a stored finding
        near it that quotes other code (the same quote is the same finding: not a merge).
        `quote` is normalised as StoredPlace.quote is."""
        with self._lock:
            earlier = self._first_of(path, lines, kind, entry)
            if earlier is not None:
                return Merge(into=str(earlier.get("title") or ""), where="run")
            near = [p for p in self._stored.get((path, kind), ()) if _close(lines, (p.first, p.last), window_for(kind))]
            if near and not any(p.quote == quote for p in near):
                return Merge(into=near[0].fingerprint, where="stored")
            return None
