"""Dedup does not depend on arrival order (verification/dedup.py): the same candidates
give the same survivors and the same merge records whichever finder answers first, and
a candidate is compared with what EARLIER runs stored, never with what its own run
stores meanwhile."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from refute.orchestration.verification.dedup import Deduper, Merge, StoredPlace
from verification_fakes import drive

SHARED = "def f(a):\n    b = a + 1\n    c = b * 2\n    q = 'SELECT ' + a\n    r = q\n    s = 'WHERE ' + a\n    return b, c\n"

# Finder i (unit f<i>.py) reports one candidate about shared.py. Groups: f0/f1/f2 overlap
# line 2; f3 (line 3) overlaps f2 (lines 2-3) but not f0, so with arrival-order dedup f2
# merges into whichever of f0 and f3 answered first; f4 and f5 are one CWE family within
# the 3-line window.
CANDIDATES = [
    {"quote": "b = a + 1", "title": "f0 sees b", "category": "bug"},
    {"quote": "b = a + 1", "title": "f1 sees b", "category": "bug"},
    {"quote": "b = a + 1\n    c = b * 2", "title": "f2 sees b and c", "category": "bug"},
    {"quote": "c = b * 2", "title": "f3 sees c", "category": "bug"},
    {"quote": "q = 'SELECT ' + a", "title": "f4 sqli", "category": "security", "cwe": "CWE-89"},
    {"quote": "s = 'WHERE ' + a", "title": "f5 query from input", "category": "security", "cwe": "CWE-564"},
]


def audit_in_arrival_order(root: Path, order: list[int]) -> tuple[list[str], list[tuple[str, str, str]], list[str]]:
    """Run the bundled audit with finder i answering at position order.index(i): returns
    (confirmed titles, merge records (merged, into, where), the order finders answered in)."""
    root.mkdir()
    (root / "shared.py").write_text(SHARED)
    for i in range(len(CANDIDATES)):
        (root / f"f{i}.py").write_text(f"X_{i} = {i}\n")
    answered: list[str] = []
    lock = threading.Lock()

    def responder(prompt, request):
        label = request["label"] or ""
        if label.startswith("audit:find f"):
            i = int(label.split(" ", 1)[1][1:].split(".")[0])
            time.sleep(0.08 * order.index(i))  # all finders start together; this decides who answers first
            with lock:
                answered.append(f"f{i}")
            return {"findings": [{"path": "shared.py", "explanation": "x", "severity": "warning", **CANDIDATES[i]}]}
        if label.startswith("audit:find"):
            return {"findings": []}
        return {"verdict": "confirmed", "reason": "holds", "evidence": "the line"}

    outcome, events = drive(root, "audit", {}, responder)
    assert outcome.status == "completed", outcome.error
    confirmed = sorted(f["finding"]["title"] for kind, f in events if kind == "finding")
    merges = sorted((f["merged"]["title"], f["into"], f["where"]) for kind, f in events if kind == "finding_merged")
    return confirmed, merges, answered


def test_survivors_and_merges_are_the_same_in_any_arrival_order(tmp_path):
    rng = random.Random(13)
    orders = [list(range(6)), list(range(5, -1, -1))] + [rng.sample(range(6), 6) for _ in range(2)]
    results = [audit_in_arrival_order(tmp_path / f"order{n}", order) for n, order in enumerate(orders)]
    assert results[1][2][0] == "f5" and results[0][2][0] == "f0"  # the arrival orders really differed
    # The survivor of a group is the candidate of the earliest item, whoever answered first.
    expected = (["f0 sees b", "f3 sees c", "f4 sqli"],
                [("f1 sees b", "f0 sees b", "run"), ("f2 sees b and c", "f0 sees b", "run"),
                 ("f5 query from input", "f4 sqli", "run")])
    for confirmed, merges, _ in results:
        assert (confirmed, merges) == expected


def test_decisions_commute_for_a_stable_order_and_compare_with_earlier_runs_only():
    stored = [StoredPlace(path="a.py", first=10, last=10, kind="cwe:injection", quote="q = x + y", fingerprint="fp1")]
    seen = Deduper(stored)
    # The same code as a stored finding IS that finding: verified again (a free replay).
    assert seen.decide("a.py", (10, 10), "cwe:injection", "q = x + y", {"title": "again"}) is None
    # Its duplicates in this run merge into it, not into the stored finding.
    assert seen.decide("a.py", (11, 11), "cwe:injection", "run(q)", {"title": "sink"}) == Merge("again", "run")
    fresh = Deduper(stored)
    # Other code near a stored finding merges into the stored finding.
    assert fresh.decide("a.py", (12, 12), "cwe:injection", "run(q)", {"title": "sink"}) == Merge("fp1", "stored")
    assert fresh.decide("a.py", (30, 30), "cwe:injection", "other()", {"title": "far"}) is None
    assert fresh.decide("b.py", (10, 10), "cwe:injection", "q = x + y", {"title": "other file"}) is None


@pytest.mark.parametrize("seed", range(5))
def test_the_stored_snapshot_is_ordered_whatever_order_it_is_read_in(seed):
    """Two stored findings near one candidate: it merges into the same one however the
    store happened to list them."""
    places = [StoredPlace(path="a.py", first=5 + k, last=5 + k, kind="bug", quote=f"line {k}", fingerprint=f"fp{k}")
              for k in range(3)]
    random.Random(seed).shuffle(places)
    assert Deduper(places).decide("a.py", (5, 7), "bug", "new code", {"title": "x"}) == Merge("fp0", "stored")
