"""Review: per-unit observations, then a cross-file synthesis whose claims are cross-checked."""


meta = {
    "name": "review",
    "description": "Review the code with a focus: observations per unit, then a cross-file "
                   "synthesis (patterns, inconsistencies, risks) whose claims must quote real code "
                   "and survive blind refuters. Returns a report of what survived and what was dropped.",
    "phases": ["observe", "synthesise", "cross-check"],
    "args": {"focus": "design, consistency and maintainability", "refuters": 2},
}

def main(args):
    focus = (args.get("focus") or "design, consistency and maintainability").strip()
    k = int(args.get("refuters") or 2)
    all_units = units()

    phase("observe")

    def observe(unit):
        answer = agent(
            f"Review {unit['path']} (lines {unit['start_line'] + 1}-{unit['end_line'] + 1}) with this focus: {focus}. "
            "Note what matters for a reviewer: patterns, inconsistencies, risks, good ideas worth "
            "reusing. Each observation quotes the code verbatim. An empty list is a fine answer.",
            unit=unit, schema=SCHEMAS["claims"], label="review:observe " + unit["path"])
        return answer["claims"]

    observations = []
    for batch in pipeline(all_units, observe):
        for item in batch or []:
            where = locate(item["path"], item["quote"])
            if where is not None:
                item["line"] = where["line"]
                observations.append(item)
    log("review: " + str(len(observations)) + " observation(s) quote real code")

    phase("synthesise")
    listing = "\n".join("- " + o["path"] + ": " + o["claim"] + "\n  quote: " + " ".join(o["quote"].split())
                        for o in observations)
    synthesis = agent(
        f"Focus: {focus}\n\nObservations from a file-by-file review:\n{listing}\n\n"
        "Write the cross-file conclusions a lead needs: recurring patterns, inconsistencies between "
        "files, risks that only show across files. Each conclusion is a claim anchored by one verbatim "
        "quote from one file (name it). Do not repeat single-file observations.",
        schema=SCHEMAS["claims"], label="review:synthesise", tools=("read_file", "search_text"))
    claims = synthesis["claims"]

    phase("cross-check")

    def check(claim):
        where = locate(claim["path"], claim["quote"])
        if where is None:
            return {"claim": claim, "kept": False, "why": "its quote is not in " + claim["path"]}
        verdicts = refute({"claim": claim["claim"], "path": claim["path"], "quote": claim["quote"],
                           "focus": focus}, k=k)
        outcome = vote(verdicts)
        if outcome["verdict"] != "confirmed":
            reasons = [v["reason"] for v in verdicts if v["verdict"] != "confirmed" and v["reason"]]
            return {"claim": claim, "kept": False, "why": outcome["verdict"] + (": " + reasons[0] if reasons else "")}
        return {"claim": claim, "kept": True, "line": where["line"], "confidence": outcome["confidence"]}

    checked = [r for r in pipeline(claims, check) if r]
    survived = [r for r in checked if r["kept"]]
    dropped = [r for r in checked if not r["kept"]]

    out = ["# Review: " + focus, "", "## Cross-file conclusions (" + str(len(survived)) + " survived cross-checking)", ""]
    for item in survived:
        claim = item["claim"]
        out.append(f"- {claim['claim']} (`{claim['path']}:{item['line']}`, confidence {item['confidence']:.2f})")
    if not survived:
        out.append("No cross-file conclusion survived cross-checking.")
    out += ["", "## Per-file observations (" + str(len(observations)) + ", not cross-checked)", ""]
    for item in observations:
        out.append(f"- `{item['path']}:{item['line']}` {item['claim']}")
    out += ["", "## Dropped (" + str(len(dropped)) + ")", ""]
    for item in dropped:
        out.append(f"- {item['claim']['claim']} ({item['claim']['path']}): {item['why']}")
    if not dropped:
        out.append("Nothing was dropped.")
    return "\n".join(out) + "\n"
