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

    phase("observe")
    def observe(unit):
        return agent(
            f"Review {unit['path']} (lines {unit['start_line'] + 1}-{unit['end_line'] + 1}) with this focus: {focus}. "
            "Note what matters for a reviewer: patterns, inconsistencies, risks, good ideas worth "
            "reusing. Each observation quotes the code verbatim. An empty list is a fine answer.",
            unit=unit, schema=SCHEMAS["claims"], label="review:observe " + unit["path"])["claims"]

    observations = []
    for batch in pipeline(units(), observe):
        for item in batch or []:
            where = locate(item["path"], item["quote"])
            if where is not None:
                item["line"] = where["line"]
                observations.append(item)
    log("review: " + str(len(observations)) + " observation(s) quote real code")

    phase("synthesise")
    listing = "\n".join("- " + o["path"] + ": " + o["claim"] + "\n  quote: " + " ".join(o["quote"].split())
                        for o in observations)
    claims = agent(
        f"Focus: {focus}\n\nObservations from a file-by-file review:\n{listing}\n\n"
        "Write the cross-file conclusions a lead needs: recurring patterns, inconsistencies between "
        "files, risks that only show across files. Each conclusion is a claim anchored by one verbatim "
        "quote from one file (name it). Do not repeat single-file observations.",
        schema=SCHEMAS["claims"], label="review:synthesise", tools=("read_file", "search_text"))["claims"]

    phase("cross-check")
    checked = cross_check(claims, k=k, about={"focus": focus})
    survived, dropped = checked["survived"], checked["dropped"]

    out = ["# Review: " + focus, "", "## Cross-file conclusions (" + str(len(survived)) + " survived cross-checking)", ""]
    out += [f"- {s['claim']['claim']} (`{s['claim']['path']}:{s['line']}`, confidence {s['confidence']:.2f})"
            for s in survived]
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
