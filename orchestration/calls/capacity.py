"""Capacity-aware search: finders stop while the run can still verify what they found.

Why (issue 13): with one candidate per unit on average, an audit of flask made 1,000
calls and failed at the cap with 154 units never searched: nothing reserved capacity for
verifying what had been found. Reaching the cap or the budget must be an outcome, not a
failure: the run completes with a coverage record, and `--continue` covers the rest.

`sweep(api, items, find, verify, ...)` (the script sees it as `sweep(...)`) sends each
item through find -> verify on its own (no barrier: findings stream as they are
confirmed), behind an admission gate. The gate knows what the run can still pay
(`capacity_calls`: the call cap, and the token and dollar budgets divided by what a call
reserves) minus what it has promised to admitted work. A finder is admitted only if its
item's EXPECTED cost fits (`finder_calls + rate x calls per candidate`, `rate` being the
candidates per item seen so far in this run, or the workflow's prior before
`MIN_OBSERVED` finders finished); the first refusal stops all later finders. Each
candidate a finder returns is verified only if its WORST case fits (`per_candidate`
calls, e.g. k refuters + a tie-break); one that does not is not sent, its item stays
uncovered, and the follow-up run replays that item's finder from the journal at no cost
(replays are free and do not count toward the cap) and verifies it then.

Order: finders are admitted in item order (a finder that does not fit stops the ones
after it, never one before it), and each item's candidates go through dedup
(verification/dedup.py) in item order, right after its finder answered and before any
of them waits for capacity: which duplicate survives never depends on which finder
answered first. Neither wait can deadlock: an item waits only for earlier items, which
were admitted before it and need nothing a later item holds to reach their turn.

Invariants (tests/unit/orchestration/test_capacity.py): a sweep never makes a call the
cap refuses; every candidate of an item marked covered was verified, merged or dropped by
the mechanical check; an item is covered only then; the coverage record lists every item
not covered with the reason.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Sequence

from refute.orchestration.errors import AgentError

MIN_OBSERVED = 16  # finders seen before the observed candidate rate replaces the prior
LISTED_MAX = 500  # items listed by name in a coverage record (the rest are counted)
DEFAULT_MAX_OUTPUT = 4096  # what a call reserves for its output (agent()'s default max_tokens)


def capacity_calls(api: Any, *, max_output: int = DEFAULT_MAX_OUTPUT) -> int:
    """Paid calls the run can still make: the call cap, and what the token and dollar
    budgets left can reserve (each call reserves its input plus `max_output`; a call's
    input is estimated from the run's average so far)."""
    view = api.budget.to_dict()
    calls = view.get("calls") or {}
    capacity = int(calls.get("remaining", 1 << 30))
    paid = max(int(calls.get("paid", 0)), 1)
    tokens, usd = view["tokens"], view["usd"]
    if tokens.get("remaining") is not None:
        # Observed cost per paid call (x1.5 for spread) once calls were paid; before that a
        # guess with the whole output reserved. The scheduler's reservations stay the hard limit.
        per_call = tokens["spent"] / paid * 1.5 if calls.get("paid") else 2000 + max_output
        capacity = min(capacity, int(tokens["remaining"] // max(per_call, 1)))
    if usd.get("remaining") is not None:
        if calls.get("paid") and usd["spent"] > 0:
            per_call_usd = usd["spent"] / paid * 1.5
        else:
            per_call_usd = max_output * _dearest_output_usd()  # nothing seen yet: output at the dearest rate
        capacity = min(capacity, int(usd["remaining"] // per_call_usd))
    return max(capacity, 0)


def _dearest_output_usd() -> float:
    """USD per output token of the dearest model in the price table (an upper bound)."""
    from refute.orchestration.calls import pricing

    return max(float(m["output"]) for m in pricing.table()["models"].values()) / 1e6


class _Gate:
    """Calls promised to admitted work that has not finished yet. Available capacity is
    what the run can still pay (`capacity_calls`) minus these promises. A call in flight
    is counted twice (paid, and still promised) until its work releases the promise: the
    gate errs on the safe side by at most the calls in flight. A finder that does not fit
    waits while admitted work may still release promises (so the run's tail is used), and
    stops the sweep only when nothing is left to wait for."""

    def __init__(self, api: Any):
        self.api = api
        self.cond = threading.Condition()
        self.promised = 0.0
        self.stopped = False
        scheduler = getattr(api, "scheduler", None)
        self.interrupted = getattr(scheduler, "stop_event", None)

    def admit(self, cost: float, *, finder: bool, wait: bool = True, held: float = 0.0) -> bool:
        """Promise `cost` calls if they fit. `held` is a promise the caller gives back in the
        same step (a finder trading its expected cost for its candidates' worst case), so no
        other finder can take it in between. Waiting is only allowed to callers holding no
        other promise (so two waiters can never wait for each other). The script lock is let
        go meanwhile: the work that would release a promise is script code too."""
        lock = getattr(self.api, "script_lock", None)
        with lock.released() if lock is not None else contextlib.nullcontext(), self.cond:
            if held:
                self.promised -= held
                self.cond.notify_all()
            while True:
                if finder and self.stopped:
                    return False
                if capacity_calls(self.api) - self.promised >= cost:
                    self.promised += cost
                    return True
                if not wait or self.promised <= 1e-9 or (self.interrupted is not None and self.interrupted.is_set()):
                    if finder:
                        self.stopped = True  # finders stop here; later items are left for a follow-up
                    return False
                self.cond.wait(0.1)  # admitted work will release what it did not use; pause/cancel is seen fast

    def release(self, cost: float) -> None:
        with self.cond:
            self.promised -= cost
            self.cond.notify_all()


class _InOrder:
    """Turns taken in item order: item i's turn starts once items 0..i-1 took theirs or
    passed (`skip`). The script lock is let go while waiting (the earlier items' work is
    script code too); a stopped run stops waiting (order no longer matters then)."""

    def __init__(self, api: Any):
        self.api = api
        self.cond = threading.Condition()
        self.next = 0  # every index below this one has had its turn
        self.done: set[int] = set()
        scheduler = getattr(api, "scheduler", None)
        self.interrupted = getattr(scheduler, "stop_event", None)

    @contextlib.contextmanager
    def turn(self, index: int) -> Any:
        lock = getattr(self.api, "script_lock", None)
        with lock.released() if lock is not None else contextlib.nullcontext(), self.cond:
            while self.next < index and not (self.interrupted is not None and self.interrupted.is_set()):
                self.cond.wait(0.1)
        try:
            yield
        finally:
            self.skip(index)

    def skip(self, index: int) -> None:
        with self.cond:
            self.done.add(index)
            while self.next in self.done:
                self.done.discard(self.next)
                self.next += 1
            self.cond.notify_all()


def sweep(api: Any, items: Sequence[dict[str, Any]], find: Callable[[dict[str, Any]], Any],
          verify: Callable[[dict[str, Any], dict[str, Any]], Any], *, finder_calls: int = 1,
          per_candidate: int = 3, rate: float = 1.0, verify_calls: float | None = None,
          fan_out: str = "units") -> dict[str, Any]:
    """Search `items` with `find(item) -> list of candidates` and check each candidate with
    `verify(item, candidate) -> outcome` (a short string: "confirmed", "refuted",
    "dropped", "merged"...), within the run's capacity (see the module docstring). Each
    item is verified as soon as it is searched (findings stream). Returns the coverage
    record (also recorded with api.record_coverage); marks covered items in the ledger.
    `fan_out` ("units" or "components") and the finder calls made go into the record, so
    the plan calibrates its candidate rate per finder call and per fan-out (forecast.py)."""
    items = list(items)
    per_candidate = max(int(per_candidate), 1)
    finder_calls = max(int(finder_calls), 1)
    expected_verify = float(verify_calls if verify_calls is not None else max(per_candidate - 1, 1))
    prior = max(float(rate), 0.0)
    gate = _Gate(api)
    stats = {"found": 0, "finders": 0}
    stats_lock = threading.Lock()
    outcomes: dict[str, int] = {}

    def expected_item_cost() -> float:
        with stats_lock:
            observed = stats["found"] / stats["finders"] if stats["finders"] >= MIN_OBSERVED else prior
        return finder_calls + observed * expected_verify

    admissions, dedup_turns = _InOrder(api), _InOrder(api)
    decide = getattr(api, "decide_duplicates", None)  # an API without dedup decides nothing ahead

    def one(index: int, item: dict[str, Any]) -> tuple[str, str]:
        with admissions.turn(index):
            cost = expected_item_cost()
            admitted_finder = gate.admit(cost, finder=True)
        if not admitted_finder:
            dedup_turns.skip(index)
            return "not searched", ("not searched: the run's call cap or budget was kept for verifying what "
                                    "was found; continue with refute run WORKFLOW --continue RUN")
        try:
            candidates = _find(find, item)
        except BaseException:
            dedup_turns.skip(index)
            gate.release(cost)
            raise
        if candidates is None:
            dedup_turns.skip(index)
            gate.release(cost)
            return "failed", "an agent call failed (see the run's failed calls); a follow-up run retries it"
        with dedup_turns.turn(index):
            decisions = decide(candidates) if decide is not None and candidates else [None] * len(candidates)
        with stats_lock:
            stats["found"] += len(candidates)
            stats["finders"] += 1
        if not candidates:
            gate.release(cost)
        admitted = []
        for candidate in candidates:
            # The first candidate takes over the finder's promise in one step (see _Gate.admit).
            if not gate.admit(per_candidate, finder=False, wait=not admitted, held=0.0 if admitted else cost):
                break
            admitted.append(candidate)
        thunks = [_verifier(api, verify, gate, item, candidate, decision, per_candidate)
                  for candidate, decision in zip(admitted, decisions)]
        results = api.parallel(thunks) if thunks else []
        with stats_lock:
            for outcome in results:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if "failed" in results:
            return "failed", "an agent call failed (see the run's failed calls); a follow-up run retries it"
        if len(admitted) < len(candidates):
            return "deferred", (f"{len(candidates) - len(admitted)} of {len(candidates)} candidates not verified "
                                "within this run's capacity; a follow-up run verifies them (its finder replays free)")
        return "covered", ""

    states = api.parallel([(lambda index=index, item=item: one(index, item)) for index, item in enumerate(items)])
    covered = [item for item, (state, _) in zip(items, states) if state == "covered"]
    not_covered = [(item, reason) for item, (state, reason) in zip(items, states) if state != "covered"]
    api.mark_covered(covered)
    counts: dict[str, int] = {}
    for state, _ in states:
        counts[state] = counts.get(state, 0) + 1
    record = {
        "items": len(items), "covered": len(covered), "not_covered": len(not_covered),
        "not_searched": counts.get("not searched", 0), "deferred": counts.get("deferred", 0),
        "failed": counts.get("failed", 0), "searched": stats["finders"], "candidates": stats["found"],
        "outcomes": outcomes, "fan_out": str(fan_out), "finder_calls": stats["finders"] * finder_calls,
        "candidate_rate": round(stats["found"] / stats["finders"], 4) if stats["finders"] else None,
        "complete": not not_covered,
        "not_covered_items": [_describe(item, reason) for item, reason in not_covered[:LISTED_MAX]],
        "not_covered_listed": min(len(not_covered), LISTED_MAX),
    }
    api.record_coverage(record)
    return record


def _find(find: Callable[[dict[str, Any]], Any], item: dict[str, Any]) -> list[dict[str, Any]] | None:
    try:
        found = find(item)
    except AgentError:
        return None  # recorded by the scheduler as a failed call; the item stays uncovered
    if found is None:
        return None
    if not isinstance(found, (list, tuple)):
        raise TypeError("sweep(find=...): find(item) must return a list of candidates (or None)")
    return [c for c in found if isinstance(c, dict)]


def _verifier(api: Any, verify: Callable[..., Any], gate: _Gate, item: dict[str, Any], candidate: dict[str, Any],
              decision: Any, promised: float) -> Callable[[], str]:
    def run() -> str:
        try:
            with api.deciding(decision) if decision is not None else contextlib.nullcontext():
                return str(verify(item, candidate) or "done")
        except AgentError:
            return "failed"
        finally:
            gate.release(promised)
    return run


def _describe(item: dict[str, Any], reason: str) -> dict[str, Any]:
    out = {"path": item.get("path"), "reason": reason}
    if item.get("kind") == "component":
        out["files"] = len(item.get("paths") or [])
    else:
        out["lines"] = [int(item.get("start_line", 0)) + 1, int(item.get("end_line", 0)) + 1]
    return out


__all__ = ["sweep", "capacity_calls"]
