"""Audit: find bugs file by file; every candidate faces blind refuters before it is shown."""

meta = {
    "name": "audit",
    "description": "Find bugs in each work unit (one per file, split only above the unit budget) of the "
                   "source code; each candidate faces two blind refuters (a third on a split vote); "
                   "finders stop while the run can still verify what they found, and the run ends with "
                   "a coverage record (continue with --continue RUN).",
    "phases": ["find + verify"],
    # candidate_rate: the prior for candidates per unit before the run has seen its own
    # (documented in docs/scale.md; `plan` recalibrates it from this workspace's runs).
    "args": {"focus": "", "refuters": 2, "include_tests": False, "skip_covered": False, "candidate_rate": 1.0,
             "continues": ""},  # continues: the run this one follows (--continue RUN)
}

def finder_prompt(unit, focus):
    where = f"{unit['path']} (lines {unit['start_line'] + 1}-{unit['end_line'] + 1}"
    where = where + (f", {unit.get('symbol')})" if unit.get('symbol') else ")")
    return f"""You are auditing the code above for real bugs: wrong results, crashes,
resource leaks, races, broken error handling. {focus}
File: {where}

Report only problems you can point at. For each one, quote the exact code it is about
(copied verbatim from the file, one to three lines), say what goes wrong and when, and
rate it error (wrong behaviour), warning (likely), info or hint. Category: "bug" unless
it is "security", "performance" or "concurrency". An empty list is a fine answer."""


def main(args):
    focus = args.get("focus") or ""
    k = int(args.get("refuters") or 2)
    focus_line = "Focus on: " + focus + "." if focus else ""
    all_units = units(code_only=True, include_tests=bool(args.get("include_tests")))
    todo = uncovered(all_units) if args.get("skip_covered") else all_units
    if len(todo) < len(all_units):
        log("audit: " + str(len(all_units) - len(todo)) + " units already audited at the same content are skipped")

    def find(unit):
        answer = agent(finder_prompt(unit, focus_line), unit=unit, schema=SCHEMAS["findings"], role="finder",
                       label="audit:find " + unit["path"])
        return answer["findings"]

    def verify(unit, candidate):
        where = locate(candidate["path"], candidate["quote"])
        if where is None:
            # The mechanical check, before any refuter is paid: report() drops an
            # invented quote and records why, so the run's report counts it.
            report(candidate)
            return "dropped"
        if dedup(candidate, where) is not None:
            return "merged"  # same file, nearby line, same category: recorded, not paid twice
        claim = dict(candidate)
        claim["unit"] = unit
        verdicts = refute(claim, k=k)
        outcome = vote(verdicts)
        if outcome["verdict"] == "confirmed":
            finding = dict(candidate)
            finding["verdicts"] = verdicts
            finding["confidence"] = outcome["confidence"]
            report(finding)  # reaches the editor now, not at the end of the run
        return outcome["verdict"]

    phase("find + verify")
    # Worst case per candidate: k refuters and a tie-break; expected: k + P(split) (verify.py).
    coverage = sweep(todo, find, verify, per_candidate=k + 1, verify_calls=k + 0.255,
                     rate=float(args.get("candidate_rate") or 1.0))
    outcomes = coverage["outcomes"]
    totals = {"candidates": coverage["candidates"], "confirmed": outcomes.get("confirmed", 0),
              "dropped": outcomes.get("dropped", 0), "merged": outcomes.get("merged", 0),
              "units": len(all_units), "skipped_covered": len(all_units) - len(todo),
              "covered": coverage["covered"], "not_covered": coverage["not_covered"],
              "complete": coverage["complete"]}
    log("audit: " + str(totals["confirmed"]) + " of " + str(totals["candidates"]) + " candidates confirmed, "
        + str(totals["dropped"]) + " dropped (quoted code not in the file), " + str(totals["merged"])
        + " merged as duplicates; " + str(coverage["covered"]) + " of " + str(len(todo)) + " units covered"
        + ("" if coverage["complete"] else "; the rest: refute run audit --continue with this run's id"))
    return totals
