"""A sample of a corpus stratified by category, reproducible from its seed.

`stratified_sample(cases, n, seed)`: n cases, shared among the categories in proportion
to their size (largest remainders; every category gets at least one when n is at least
the number of categories), and inside each category between vulnerable and safe cases in
proportion again (each side at least one when the category's share is two or more and
the category has both). The same (cases, n, seed) always gives the same sample, in corpus
order, so a re-run of the same eval asks the same questions and replays from the journal.
Why stratify: OWASP Benchmark Python is 26% weakrand and 2% cmdi; a plain random slice of
30 would often miss whole categories, and the per-category table is what matters.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence

from refute.orchestration.evaluation.corpus import Case


def stratified_sample(cases: Sequence[Case], n: int, seed: int = 0) -> list[Case]:
    cases = list(cases)
    if n <= 0:
        raise ValueError("--sample: give a number of cases above 0")
    if n >= len(cases):
        return cases
    groups: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        groups[case.category].append(case)
    shares = _allocate({name: len(group) for name, group in groups.items()}, n, minimum=1)
    rng = random.Random(seed)
    chosen: set[str] = set()
    for name in sorted(groups):
        group = groups[name]
        sides = {"vulnerable": [c for c in group if c.vulnerable], "safe": [c for c in group if not c.vulnerable]}
        inner = _allocate({side: len(items) for side, items in sides.items() if items}, shares.get(name, 0),
                          minimum=1 if shares.get(name, 0) >= 2 else 0)
        for side in sorted(inner):
            chosen.update(c.id for c in rng.sample(sides[side], inner[side]))
    return [c for c in cases if c.id in chosen]


def _allocate(sizes: dict[str, int], n: int, minimum: int) -> dict[str, int]:
    """n slots shared in proportion to sizes (largest remainder), each at least `minimum`
    when n allows it, never more than its size."""
    names = sorted(sizes)
    total = sum(sizes.values())
    if n <= 0 or total == 0:
        return {name: 0 for name in names}
    floor = minimum if n >= minimum * len(names) else 0
    out = {name: min(floor, sizes[name]) for name in names}
    left = n - sum(out.values())
    if left <= 0:
        return out
    spare = {name: sizes[name] - out[name] for name in names}
    spare_total = sum(spare.values())
    exact = {name: left * spare[name] / spare_total if spare_total else 0 for name in names}
    for name in names:
        out[name] += min(int(exact[name]), spare[name])
    left = n - sum(out.values())
    for name in sorted(names, key=lambda k: (-(exact[k] - int(exact[k])), k)):
        if left <= 0:
            break
        if out[name] < sizes[name]:
            out[name] += 1
            left -= 1
    return out
