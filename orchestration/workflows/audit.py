"""Audit: find bugs unit by unit; every candidate faces blind refuters before it is shown."""

meta = {
    "name": "audit",
    "description": "Find bugs in each work unit; each candidate faces two blind refuters "
                   "(a third on a split vote); confirmed findings are reported as they are confirmed.",
    "phases": ["find + verify"],
    "args": {"focus": "", "refuters": 2},
}

def finder_prompt(unit, focus):
    where = f"{unit['path']} (lines {unit['start_line'] + 1}-{unit['end_line'] + 1}"
    where = where + (f", {unit.get('symbol')})" if unit.get('symbol') else ")")
    return f"""You are auditing one piece of a codebase for real bugs: wrong results, crashes,
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

    def find(unit):
        answer = agent(finder_prompt(unit, focus_line), unit=unit, schema=SCHEMAS["findings"], role="finder",
                       label="audit:find " + unit["path"])
        return {"unit": unit, "candidates": answer["findings"]}

    def verify(found):
        confirmed = 0
        dropped = 0
        for candidate in found["candidates"]:
            if locate(candidate["path"], candidate["quote"]) is None:
                # The mechanical check, before any refuter is paid: report() drops an
                # invented quote and records why, so the run's report counts it.
                report(candidate)
                dropped = dropped + 1
                continue
            claim = dict(candidate)
            claim["unit"] = found["unit"]
            verdicts = refute(claim, k=k)
            outcome = vote(verdicts)
            if outcome["verdict"] == "confirmed":
                finding = dict(candidate)
                finding["verdicts"] = verdicts
                finding["confidence"] = outcome["confidence"]
                report(finding)  # reaches the editor now, not at the end of the run
                confirmed = confirmed + 1
        return {"candidates": len(found["candidates"]), "confirmed": confirmed, "dropped": dropped}

    phase("find + verify")  # a pipeline: each unit is verified as soon as it is searched
    results = pipeline(units(), find, verify)
    totals = {"candidates": sum(r["candidates"] for r in results if r),
              "confirmed": sum(r["confirmed"] for r in results if r),
              "dropped": sum(r["dropped"] for r in results if r)}
    log("audit: " + str(totals["confirmed"]) + " of " + str(totals["candidates"]) + " candidates confirmed, "
        + str(totals["dropped"]) + " dropped (quoted code not in the file)")
    return totals
