"""Scoring flags against truth: per case, per category and overall.

A *flag* is one reported weakness: a file, a CWE and (when known) 1-based lines. A case
is *flagged* when some flag has the case's file and CWE (OWASP's rule: "a result
carrying the case's CWE in the case's file") and, for a case with line-level truth, its
lines overlap the case's. Then, per case: vulnerable and flagged = TP, vulnerable and not
= FN, safe and flagged = FP, safe and not = TN. Flags that hit no case (another CWE, a
file without truth) change nothing and are counted as `unmatched`.

Metrics (None where the denominator is 0): precision TP/(TP+FP), recall = TPR
TP/(TP+FN), FPR FP/(FP+TN), F1, and OWASP's score TPR - FPR. `overall` pools every case
(Bandit on OWASP Benchmark Python: TPR 0.249, FPR 0.060, a test checks it);
`category_average` is the mean of the per-category figures, as OWASP's scorecards show it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from refute.orchestration.evaluation.corpus import Case, normalise_cwe


@dataclass(frozen=True)
class Flag:
    path: str  # corpus-relative POSIX path
    cwe: str | None  # normalised digits, or None when the tool gave none
    start_line: int | None = None  # 1-based inclusive; None = unknown
    end_line: int | None = None

    @classmethod
    def make(cls, path: str, cwe: Any, start_line: int | None = None, end_line: int | None = None) -> "Flag":
        path = str(path).replace("\\", "/").removeprefix("./")
        if start_line is not None and end_line is None:
            end_line = start_line
        return cls(path, normalise_cwe(cwe), start_line, end_line)


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, outcome: str) -> None:
        setattr(self, outcome.lower(), getattr(self, outcome.lower()) + 1)

    @property
    def cases(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def metrics(self) -> dict[str, Any]:
        precision = _ratio(self.tp, self.tp + self.fp)
        tpr = _ratio(self.tp, self.tp + self.fn)
        fpr = _ratio(self.fp, self.fp + self.tn)
        f1 = None
        if precision is not None and tpr is not None and precision + tpr > 0:
            f1 = 2 * precision * tpr / (precision + tpr)
        score = None if tpr is None or fpr is None else tpr - fpr
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn, "cases": self.cases,
                "precision": _round(precision), "recall": _round(tpr), "f1": _round(f1), "tpr": _round(tpr),
                "fpr": _round(fpr), "score": _round(score)}


@dataclass
class CaseResult:
    case: Case
    outcome: str  # TP | FP | FN | TN
    hits: list[Flag] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.case.id, "path": self.case.path, "category": self.case.category,
                "cwe": f"CWE-{self.case.cwe}", "vulnerable": self.case.vulnerable, "outcome": self.outcome,
                "flagged": bool(self.hits), "hits": [asdict(h) for h in self.hits]}


@dataclass
class Score:
    cases: list[CaseResult]
    overall: dict[str, Any]
    by_category: dict[str, dict[str, Any]]
    category_average: dict[str, Any]
    flags: int
    unmatched: int

    def to_dict(self, with_cases: bool = True) -> dict[str, Any]:
        out = {"overall": self.overall, "category_average": self.category_average,
               "by_category": self.by_category, "flags": self.flags, "unmatched_flags": self.unmatched}
        if with_cases:
            out["cases"] = [c.to_dict() for c in self.cases]
        return out

    def outcome_of(self, case_id: str) -> str:
        return next(c.outcome for c in self.cases if c.case.id == case_id)


def case_hits(case: Case, flags: Iterable[Flag]) -> list[Flag]:
    """The flags that flag this case (same file and CWE; overlapping lines for line-level truth)."""
    hits = []
    for flag in flags:
        if flag.path != case.path or flag.cwe != case.cwe:
            continue
        if case.lines:
            if flag.start_line is None:
                continue
            end = flag.end_line if flag.end_line is not None else flag.start_line
            if not any(flag.start_line <= hi and lo <= end for lo, hi in case.lines):
                continue
        hits.append(flag)
    return hits


def score(cases: Iterable[Case], flags: Iterable[Flag]) -> Score:
    cases = list(cases)
    by_file: dict[str, list[Flag]] = defaultdict(list)
    all_flags = list(dict.fromkeys(flags))  # one flag per distinct (path, cwe, lines)
    for flag in all_flags:
        by_file[flag.path].append(flag)
    results: list[CaseResult] = []
    total = Counts()
    per_category: dict[str, Counts] = defaultdict(Counts)
    used: set[Flag] = set()
    for case in cases:
        hits = case_hits(case, by_file.get(case.path, ()))
        used.update(hits)
        if case.vulnerable:
            outcome = "TP" if hits else "FN"
        else:
            outcome = "FP" if hits else "TN"
        results.append(CaseResult(case, outcome, hits))
        total.add(outcome)
        per_category[case.category].add(outcome)
    by_category = {name: per_category[name].metrics() for name in sorted(per_category)}
    return Score(cases=results, overall=total.metrics(), by_category=by_category,
                 category_average=_average(by_category.values()), flags=len(all_flags),
                 unmatched=len(all_flags) - len(used))


def _average(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    rows = list(rows)
    out: dict[str, Any] = {"categories": len(rows)}
    for key in ("precision", "recall", "tpr", "fpr", "score"):  # no mean F1: it hides which side is weak
        values = [r[key] for r in rows if r[key] is not None]
        out[key] = _round(sum(values) / len(values)) if values else None
    return out


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
