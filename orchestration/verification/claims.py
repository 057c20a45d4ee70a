"""Check-quote-then-refute-then-report: the verification steps the bundled workflows share.

Workflow API names (bound over the script's other names by runtime/api.py's
`script_primitives`: they call `locate`, `dedup`, `refute`, `vote`, `report` and
`pipeline` exactly as a script would, so their calls, journal keys and events are the
script's own):

| name | does |
| --- | --- |
| check_candidate(item, candidate, *, k=2, category=None) | one finder candidate: quote check, dedup, k blind refuters, report if confirmed; returns the outcome |
| cross_check(claims, *, k=2, about=None) | claims (ask, review): quote check, k blind refuters each; {"survived", "dropped"} |

`check_candidate` contract, in this order (each step is cheaper than the next):
1. `locate(path, quote)`: a quote that is not in the file is handed to `report`, which
   drops it and records why (the run's report counts it); no refuter is paid: "dropped";
2. `dedup(candidate, where)`: same file, nearby line, same category or CWE family as a
   candidate already seen in this run or a stored finding: recorded, not paid twice:
   "merged";
3. `refute(claim, k=k)` with the item (unit or component) attached, so refuters read
   the same code from the cached prefix; `vote(verdicts)`;
4. confirmed: the candidate is reported now (it reaches the editor while the run goes
   on) with its verdicts and confidence (and `category`, when given, e.g. "security").
Returns the vote's verdict ("confirmed", "refuted", "uncertain") or "dropped" / "merged".

`cross_check` contract: each claim ({"claim", "path", "quote"}) flows through its own
pipeline stage: a quote not in the file drops it ("its quote is not in PATH"); otherwise
k blind refuters see {"claim", "path", "quote"} plus the `about` fields (the question or
the focus), and a claim survives only when the vote confirms it. Survivors carry "line"
(1-based) and "confidence"; dropped claims carry "why" (the verdict and the first
dissenting reason). A claim whose refuter calls failed is in neither list (the failed
calls are listed in the run's report).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping


class ClaimChecks:
    def __init__(self, names: Mapping[str, Any]):
        self._n = names

    def names(self) -> dict[str, Callable[..., Any]]:
        return {"check_candidate": self.check_candidate, "cross_check": self.cross_check}

    def check_candidate(self, item: dict[str, Any], candidate: dict[str, Any], *, k: int = 2,
                        category: str | None = None) -> str:
        n = self._n
        if not isinstance(candidate, dict):
            raise TypeError("check_candidate(item, candidate): candidate is a finding dict (path, quote, title...)")
        where = n["locate"](candidate.get("path") or "", candidate.get("quote") or "")
        if where is None:
            n["report"](candidate)  # the mechanical check drops an invented quote and records why
            return "dropped"
        if n["dedup"](candidate, where) is not None:
            return "merged"
        claim = dict(candidate)
        claim["unit"] = item
        verdicts = n["refute"](claim, k=k)
        outcome = n["vote"](verdicts)
        if outcome["verdict"] == "confirmed":
            finding = dict(candidate)
            if category:
                finding["category"] = category
            finding["verdicts"] = verdicts
            finding["confidence"] = outcome["confidence"]
            n["report"](finding)
        return outcome["verdict"]

    def cross_check(self, claims: Any, *, k: int = 2, about: dict[str, Any] | None = None) -> dict[str, list]:
        n = self._n
        extra = dict(about or {})

        def check(claim: dict[str, Any]) -> dict[str, Any]:
            where = n["locate"](claim["path"], claim["quote"])
            if where is None:
                return {"claim": claim, "kept": False, "why": "its quote is not in " + claim["path"]}
            verdicts = n["refute"]({"claim": claim["claim"], "path": claim["path"], "quote": claim["quote"], **extra},
                                   k=k)
            outcome = n["vote"](verdicts)
            if outcome["verdict"] != "confirmed":
                reasons = [v["reason"] for v in verdicts if v["verdict"] != "confirmed" and v["reason"]]
                return {"claim": claim, "kept": False, "why": outcome["verdict"] + (": " + reasons[0] if reasons else "")}
            return {"claim": claim, "kept": True, "line": where["line"], "confidence": outcome["confidence"]}

        checked = [r for r in n["pipeline"](list(claims or []), check) if r]
        return {"survived": [r for r in checked if r["kept"]], "dropped": [r for r in checked if not r["kept"]]}


__all__ = ["ClaimChecks"]
