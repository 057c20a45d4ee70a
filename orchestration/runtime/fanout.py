"""Fan-out: search a scope per unit or per component, verify what is found, report coverage.

Workflow API names (bound over the script's other names by runtime/api.py's
`script_primitives`, so they do only what a script could do itself, and the same code
runs under the engine and under the tests' stand-in API):

| name | does |
| --- | --- |
| fan_out(units, mode="auto", components_above=40) | "units" or "components": the one rule for picking a fan-out by the scope's size |
| search(units, find_unit, *, find_component=None, lenses=None, mode="units", ...) | the find -> verify sweep over units or components, the sweep of what no researcher reached, the totals |

The rule (`fan_out`), and why: a per-unit finder sees one file and pays the system
prompt once per unit; above `COMPONENTS_ABOVE` files (40) a scope has enough
cross-file structure, and enough units, that one researcher per component (files
grouped by directory and language up to a token budget, analysis/components.py) with
read-only tools finds more per call and costs far fewer calls (Anthropic's published
security-scan workflow uses components of about 25 files). "units" and "components"
force a mode; anything else is refused with what to give instead. The bundled `audit`
and `security` both call it, and `plan` dry-runs the same script, so the plan forecasts
the mode the run will use.

`search` contract:
- items are `units` (mode "units") or `components(code_only=True, include_tests=...)`
  (mode "components"); with `skip_covered` those already covered at the same content
  (the coverage ledger) are left out, and the count is logged;
- a finder returns its agent's answer: a dict with "findings" (and, for a researcher,
  "read" / "not_reached": the files it read and the files of its component it did not
  get to), or a list of candidate dicts, or None when its call failed;
- `find_component(component, lens)` runs once per lens (in parallel) when `lenses` is
  given, else `find_component(component)` once: `finder_calls` per item is the number
  of lenses;
- every candidate goes through `verify(item, candidate)` (default:
  `check_candidate(item, candidate, k=k, category=category)`, verification/claims.py);
- capacity: `sweep(...)` (calls/capacity.py) with k refuters + a tie-break as the worst
  case per candidate and k + 0.255 expected; `rate` is candidates per FINDER CALL (the
  plan's unit, calls/forecast.py), so an item's prior is `rate x finder_calls`;
- in component mode, once the sweep is complete, files a researcher named as not
  reached and none read get a per-unit finder each (same verification, same capacity
  rules): the sweep of the unreached;
- returns the totals: candidates, confirmed, dropped (invented quote), merged
  (duplicate), mode, items, units, skipped_covered, covered, not_covered, complete,
  files_read, not_reached (at most 200 listed), swept_unreached; and logs one line.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

COMPONENTS_ABOVE = 40  # files: above this, a scope is searched per component
MODES = ("auto", "units", "components")
P_SPLIT = 0.255  # expected tie-breaks per candidate (verification/verify.py)
NOT_REACHED_LISTED = 200


def pick_fan_out(files: int, mode: str = "auto", components_above: int = COMPONENTS_ABOVE) -> str:
    """The rule itself, on a file count (see the module docstring)."""
    mode = str(mode or "auto")
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: give one of {', '.join(MODES)} (auto: components above "
                         f"components_above files, else units)")
    if mode != "auto":
        return mode
    return "components" if int(files) > int(components_above) else "units"


class FanOut:
    def __init__(self, names: Mapping[str, Any]):
        self._n = names

    def names(self) -> dict[str, Callable[..., Any]]:
        return {"fan_out": self.fan_out, "search": self.search}

    def fan_out(self, units: Any, mode: str = "auto", components_above: int = COMPONENTS_ABOVE) -> str:
        """"units" or "components" for these units (the files they span) and this mode."""
        files = {str(u.get("path") or "") for u in list(units or [])}
        return pick_fan_out(len(files), mode, components_above or COMPONENTS_ABOVE)

    def search(self, units: Any, find_unit: Callable[[dict[str, Any]], Any], *,
               find_component: Callable[..., Any] | None = None, lenses: Any = None, mode: str = "units",
               verify: Callable[[dict[str, Any], dict[str, Any]], Any] | None = None, k: int = 2,
               category: str | None = None, rate: float = 1.0, skip_covered: bool = False,
               include_tests: bool = False, name: str = "search") -> dict[str, Any]:
        n = self._n
        units = list(units or [])
        mode = pick_fan_out(len({u.get("path") for u in units}), mode)
        if mode == "components" and find_component is None:
            raise TypeError("search(mode='components'): give find_component=, the researcher of one component")
        if verify is None:
            def verify(item: dict[str, Any], candidate: dict[str, Any]) -> str:
                return n["check_candidate"](item, candidate, k=k, category=category)
        lens_names = list(lenses or [])
        reads: list[dict[str, Any]] = []

        def answer_of(found: Any, researcher: bool = False) -> Any:
            if not isinstance(found, dict):
                return found  # a list of candidates, or None (the call failed)
            if researcher:  # what it read and did not reach: the sweep of the unreached
                reads.append({"read": list(found.get("read") or []),
                              "not_reached": list(found.get("not_reached") or [])})
            return list(found.get("findings") or [])

        def find_in_unit(unit: dict[str, Any]) -> Any:
            return answer_of(find_unit(unit))

        def find_in_component(component: dict[str, Any]) -> Any:
            if not lens_names:
                return answer_of(find_component(component), True)
            found = n["parallel"]([(lambda lens=lens: answer_of(find_component(component, lens), True))
                                   for lens in lens_names])
            if any(per_lens is None for per_lens in found):
                return None  # a lens's call failed: the component stays uncovered
            return [c for per_lens in found for c in per_lens]

        items = n["components"](code_only=True, include_tests=include_tests) if mode == "components" else units
        todo = n["uncovered"](items) if skip_covered else items
        if len(todo) < len(items):
            n["log"](f"{name}: {len(items) - len(todo)} {mode} already searched at the same content are skipped")
        finder_calls = max(len(lens_names), 1) if mode == "components" else 1
        capacity = {"per_candidate": k + 1, "verify_calls": k + P_SPLIT}
        coverage = n["sweep"](todo, find_in_component if mode == "components" else find_in_unit, verify,
                              finder_calls=finder_calls, rate=float(rate) * finder_calls, fan_out=mode, **capacity)
        outcomes = dict(coverage["outcomes"])
        read_anywhere = {p for r in reads for p in r["read"]}
        not_reached = sorted({p for r in reads for p in r["not_reached"]})
        unreached = [u for u in units if u["path"] in not_reached and u["path"] not in read_anywhere]
        if mode == "components" and coverage["complete"] and unreached:
            n["log"](f"{name}: sweeping {len(unreached)} units no researcher reached")
            extra = n["sweep"](unreached, find_in_unit, verify, rate=float(rate), **capacity)
            for key, count in extra["outcomes"].items():
                outcomes[key] = outcomes.get(key, 0) + count
            coverage = {"candidates": coverage["candidates"] + extra["candidates"], "covered": coverage["covered"],
                        "not_covered": coverage["not_covered"] + extra["not_covered"],
                        "complete": extra["complete"]}
        else:
            unreached = []
        totals = {"candidates": coverage["candidates"], "confirmed": outcomes.get("confirmed", 0),
                  "dropped": outcomes.get("dropped", 0), "merged": outcomes.get("merged", 0), "mode": mode,
                  "items": len(items), "units": len(units), "skipped_covered": len(items) - len(todo),
                  "covered": coverage["covered"], "not_covered": coverage["not_covered"],
                  "complete": coverage["complete"], "files_read": len(read_anywhere),
                  "not_reached": not_reached[:NOT_REACHED_LISTED], "swept_unreached": len(unreached)}
        n["log"](f"{name}: {totals['confirmed']} of {totals['candidates']} candidates confirmed, {totals['dropped']} "
                 f"dropped (quoted code not in the file), {totals['merged']} merged as duplicates; "
                 f"{totals['covered']} of {len(todo)} {mode} covered"
                 + ("" if totals["complete"] else f"; the rest: refute run {name} --continue with this run's id"))
        return totals


__all__ = ["FanOut", "pick_fan_out", "COMPONENTS_ABOVE"]
