"""The plan's forecast: calls, tokens and dollars with verification counted, low /
expected / high, and the runs the scope needs.

Why (issue 13): `plan --workflow audit` used to count only the dry run's calls, whose
placeholder answers find nothing, so no refuter was ever counted: flask's plan said 475
calls and the run failed at 1,000. The dry run still counts every call that does not
depend on answers (finders, threat models...); this module adds what does:

    verification calls = finder calls x candidate rate x refuter calls per candidate

Candidate rate (candidates per finder call): the workflow's documented prior (its
`candidate_rate` argument: audit 1.0, security 0.5; docs/scale.md), replaced by the rate
measured on this workspace's finished runs of the same workflow and fan-out (per unit or
per component, runtime/fanout.py) once they searched at least `MIN_CALIBRATION_ITEMS`
items (coverage records in the ledger), or by an explicit
`--arg candidate_rate=X`. Refuter calls per candidate: k (two blind refuters) plus the
tie-break on a split vote, P(split) = 2p(1-p) = 0.255 for refuters right 85% of the time
(verify.py). The three cases:

    low      rate / 2, k calls per candidate
    expected rate,     k + 0.255
    high     rate x 2, k + 1

Tokens: a finder's input is what the dry run sent; its output is `FINDER_OUTPUT` plus
`CANDIDATE_OUTPUT` per candidate. A refuter reads the same unit code (the cached prefix)
plus its own instructions and the claim (`REFUTER_OVERHEAD`) and answers a verdict
(`VERDICT_OUTPUT`). Dollars use the price table with the prompt-cache rules
(calls/prompt_cache.py): a prefix long enough for its model is written once and read by
the calls that share it, a shorter one is plain input. These sizes are typical answer
sizes of the bundled schemas; bench/scale.py checks expected calls and tokens against
runs within 25%.

Runs: a run pays at most `max_calls` calls, and ends about one unit's worst case (its
finder + every candidate at k + 1 refuters) before that, which the capacity gate keeps
back for verification (calls/capacity.py). Units are assigned in search order to runs
by their expected cost (finder + verification), so `runs` says which files each run
covers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refute.orchestration.calls import pricing
from refute.orchestration.calls.prompt_cache import cacheable

P_SPLIT = 0.255
FINDER_OUTPUT = 20  # tokens of an answer with no candidate ({"findings": []} and a little)
CANDIDATE_OUTPUT = 110  # tokens per candidate: path, quote, title, explanation, severity, category
VERDICT_OUTPUT = 70  # tokens of a verdict: verdict, reason, evidence
REFUTER_OVERHEAD = 420  # refuter system prompt + angle + claim + verdict schema, in tokens
MIN_CALIBRATION_ITEMS = 20
CASES = ("low", "expected", "high")


@dataclass
class FinderCall:
    path: str
    unit_hash: str | None
    model: str
    context_tokens: int
    plain_tokens: int
    context_key: str | None


@dataclass
class Rate:
    value: float
    source: str  # "argument" | "calibrated" | "workflow default"
    runs: int = 0
    items: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"value": round(self.value, 4), "source": self.source, "runs": self.runs, "items": self.items}


def calibrated_rate(state_dir: Path, workflow: str, fan_out: str = "units") -> Rate | None:
    """Candidates per finder call over this workspace's finished runs of `workflow` that
    fanned out the same way (a component researcher finds more per call than a unit's
    finder; records from before fan-outs were recorded count as "units", one call per item)."""
    from refute.orchestration.store.coverage import CoverageLedger

    directory = Path(state_dir) / "coverage"
    if not directory.exists():
        return None
    ledger = CoverageLedger(Path(state_dir))
    try:
        records = ledger.run_records(workflow)
    finally:
        ledger.close()
    records = [r for r in records if (r.get("fan_out") or "units") == fan_out]
    searched = sum(int(r.get("searched") or 0) for r in records)
    calls = sum(int(r.get("finder_calls") or r.get("searched") or 0) for r in records)
    found = sum(int(r.get("candidates") or 0) for r in records)
    if searched < MIN_CALIBRATION_ITEMS or not calls:
        return None
    return Rate(found / calls, "calibrated", runs=sum(1 for r in records if r.get("searched")), items=searched)


def pick_rate(args: dict[str, Any], meta_default: Any, calibrated: Rate | None) -> Rate:
    if args.get("candidate_rate") is not None:
        return Rate(float(args["candidate_rate"]), "argument")
    if calibrated is not None:
        return calibrated
    return Rate(float(meta_default if meta_default is not None else 1.0), "workflow default")


@dataclass
class Forecast:
    cases: dict[str, dict[str, Any]]
    runs_needed: dict[str, int]
    runs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"cases": self.cases, "runs_needed": self.runs_needed, "runs": self.runs}


def _price_input(model: str, context_tokens: int, plain_tokens: int, first: bool) -> float:
    price = pricing.price(model)
    if context_tokens and cacheable(model, context_tokens):
        cached = price.cache_write if first else price.cache_read
        return (context_tokens * cached + plain_tokens * price.input) / 1e6
    return (context_tokens + plain_tokens) * price.input / 1e6


def forecast(*, base_calls: int, base_input_tokens: int, base_output_tokens: int, base_usd: float,
             finders: list[FinderCall], unit_order: list[tuple[str, str | None]], rate: Rate, refuters: int,
             refuter_model: str, max_calls: int, files_of: dict[str, list[str]] | None = None) -> Forecast:
    """`base_*`: the dry run's calls that are not finders (worst-case output, already
    priced); `finders`: the dry run's finder calls; `unit_order`: (path, unit hash) in
    the order the workflow searches them; `files_of`: the files of each component a
    finder searched, by its content hash (a run lists those files, not the directory)."""
    k = max(int(refuters), 1)
    per_candidate = {"low": float(k), "expected": k + P_SPLIT, "high": k + 1.0}
    rates = {"low": rate.value / 2, "expected": rate.value, "high": rate.value * 2}
    refuter_price = pricing.price(refuter_model)
    cases: dict[str, dict[str, Any]] = {}
    seen_prefix: set[str] = set()
    finder_input = sum(f.context_tokens + f.plain_tokens for f in finders)
    finder_usd_in = 0.0
    for f in finders:
        first = f.context_key not in seen_prefix
        if f.context_key:
            seen_prefix.add(f.context_key)
        finder_usd_in += _price_input(f.model, f.context_tokens, f.plain_tokens, first)
    context_sum = sum(f.context_tokens for f in finders)
    for case in CASES:
        candidates = len(finders) * rates[case]
        verify_calls = candidates * per_candidate[case]
        finder_output = len(finders) * FINDER_OUTPUT + candidates * CANDIDATE_OUTPUT
        avg_context = context_sum / len(finders) if finders else 0.0
        refuter_input = verify_calls * (avg_context + REFUTER_OVERHEAD)
        refuter_output = verify_calls * VERDICT_OUTPUT
        # Refuters of one candidate share its unit's prefix when it is long enough to cache.
        if avg_context and cacheable(refuter_model, int(avg_context)):
            in_usd = candidates * ((avg_context * refuter_price.cache_write + REFUTER_OVERHEAD * refuter_price.input)
                                   + (per_candidate[case] - 1) * (avg_context * refuter_price.cache_read
                                                                  + REFUTER_OVERHEAD * refuter_price.input)) / 1e6
        else:
            in_usd = refuter_input * refuter_price.input / 1e6
        finder_models = {f.model for f in finders}
        finder_out_price = max((pricing.price(m).output for m in finder_models), default=0.0)
        usd = (base_usd + finder_usd_in + finder_output * finder_out_price / 1e6 + in_usd
               + refuter_output * refuter_price.output / 1e6)
        calls = base_calls + len(finders) + verify_calls
        input_tokens = base_input_tokens + finder_input + refuter_input
        output_tokens = base_output_tokens + finder_output + refuter_output
        cases[case] = {
            "calls": int(math.ceil(calls)), "finder_calls": len(finders), "verification_calls": int(math.ceil(verify_calls)),
            "candidates": round(candidates, 1), "candidate_rate": round(rates[case], 4),
            "refuter_calls_per_candidate": round(per_candidate[case], 3),
            "input_tokens": int(input_tokens), "output_tokens": int(output_tokens),
            "tokens": int(input_tokens + output_tokens), "cost_usd": round(usd, 4),
        }
    # A run ends a little before its cap: the gate keeps back the worst case of the unit in
    # hand (its finder + every candidate at k + 1 refuters), so that much goes to the next run.
    tail = 1 + rates["expected"] * per_candidate["high"]
    runs = _assign_runs(finders, unit_order, base_calls, 1 + rates["expected"] * per_candidate["expected"],
                        max(max_calls - tail, 1.0), files_of or {})
    runs_needed = {case: max(1, int(math.ceil(cases[case]["calls"] / max(max_calls - tail, 1.0))))
                   if cases[case]["calls"] else 0 for case in CASES}
    runs_needed["expected"] = max(runs_needed["expected"], len(runs))
    return Forecast(cases, runs_needed, runs)


def _assign_runs(finders: list[FinderCall], unit_order: list[tuple[str, str | None]], base_calls: int,
                 per_unit: float, max_calls: float, files_of: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Units (or components: each finder call is one item) in search order, filled into
    runs of `max_calls` by expected cost."""
    searched = {(f.path, f.unit_hash) for f in finders}
    # Components are not units: they keep the order the script got them in (files_of).
    rank = {unit_hash: i for i, unit_hash in enumerate(files_of)}
    ordered = [u for u in unit_order if u in searched] or sorted(
        ((f.path, f.unit_hash) for f in finders), key=lambda u: rank.get(u[1] or "", len(rank)))
    runs: list[dict[str, Any]] = []
    used = float(base_calls)
    current: list[str] = []
    units = 0
    for path, unit_hash in ordered:
        if units and used + per_unit > max_calls:
            runs.append({"index": len(runs) + 1, "units": units, "expected_calls": int(round(used)),
                         "files": list(dict.fromkeys(current))})
            used, current, units = 0.0, [], 0
        used += per_unit
        current.extend(files_of.get(unit_hash or "", [path]))
        units += 1
    if units:
        runs.append({"index": len(runs) + 1, "units": units, "expected_calls": int(round(used)),
                     "files": list(dict.fromkeys(current))})
    return runs
