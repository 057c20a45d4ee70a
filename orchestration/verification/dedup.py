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
"""

from __future__ import annotations

import re
import threading
from typing import Any

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


class Deduper:
    """Candidates of one run, by place and family. Thread-safe (task threads call it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], list[tuple[int, int, dict[str, Any]]]] = {}

    def first_of(self, path: str, lines: tuple[int, int], kind: str, entry: dict[str, Any]) -> dict[str, Any] | None:
        """The earlier entry this one duplicates, or None (then this one is remembered).
        `lines`: the candidate's quoted lines (first, last)."""
        window = window_for(kind)
        start, end = lines
        with self._lock:
            bucket = self._seen.setdefault((path, kind), [])
            for other_start, other_end, other in bucket:
                if start <= other_end + window and other_start <= end + window:
                    return other
            bucket.append((start, end, entry))
            return None
