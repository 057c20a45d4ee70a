"""Ask: answer a question about the codebase with claims that survived cross-checking."""


meta = {
    "name": "ask",
    "description": "Answer a question about the codebase: agents explore it from several angles "
                   "and make claims that quote the code; each claim must quote code that is really "
                   "there and survive blind refuters. The report keeps only surviving claims, with "
                   "file:line citations, and lists what was dropped and why.",
    "phases": ["explore", "cross-check"],
    "args": {"question": "", "refuters": 2},
    "required": ["question"],
}

ANGLES = (
    "where it is implemented: the functions, classes and files that do it",
    "how data and control flow through it: callers, inputs, outputs",
    "edge cases, error handling and limits",
    "configuration, entry points and how it is used",
)


def outline(all_units):
    lines = []
    for unit in all_units:
        lines.append(f"{unit['path']}:{unit['start_line'] + 1}-{unit['end_line'] + 1} {unit.get('symbol') or ''}")
    return "\n".join(lines)


def main(args):
    question = (args.get("question") or "").strip()
    if not question:
        raise ValueError("ask needs a question, e.g. --arg question='where are sessions invalidated?'")
    k = int(args.get("refuters") or 2)
    all_units = units()
    context = "The codebase's work units (path:lines symbol):\n" + outline(all_units)

    phase("explore")

    def explore(angle):
        def call():
            answer = agent(
                f"Question: {question}\nAngle: {angle}\n\nRead the code with your tools and make "
                "specific claims that answer the question from this angle. Every claim must quote the "
                "code that shows it, verbatim, and name its file.",
                context=context, schema=SCHEMAS["claims"], label="ask:explore " + angle.split(":")[0],
                tools=("read_file", "search_text"))
            return answer["claims"]
        return call

    batches = parallel([explore(angle) for angle in ANGLES])
    claims, seen = [], {}
    for batch in batches:
        for claim in batch or []:  # None: that explorer's call failed (listed in the run's report)
            key = claim["path"] + "|" + " ".join(claim["quote"].split()) + "|" + claim["claim"].strip().lower()
            if key not in seen:
                seen[key] = True
                claims.append(claim)

    phase("cross-check")
    survived, dropped = [], []

    def check(claim):
        where = locate(claim["path"], claim["quote"])
        if where is None:
            return {"claim": claim, "kept": False, "why": "its quote is not in " + claim["path"]}
        verdicts = refute({"claim": claim["claim"], "path": claim["path"], "quote": claim["quote"],
                           "question": question}, k=k)
        outcome = vote(verdicts)
        if outcome["verdict"] != "confirmed":
            reasons = [v["reason"] for v in verdicts if v["verdict"] != "confirmed" and v["reason"]]
            why = outcome["verdict"] + (": " + reasons[0] if reasons else "")
            return {"claim": claim, "kept": False, "why": why}
        return {"claim": claim, "kept": True, "line": where["line"], "confidence": outcome["confidence"]}

    for result in pipeline(claims, check):
        if result and result["kept"]:
            survived.append(result)
        elif result:
            dropped.append(result)

    out = ["# " + question, ""]
    if survived:
        out.append("## What the code shows (" + str(len(survived)) + " claim(s) survived cross-checking)")
        out.append("")
        for item in survived:
            claim = item["claim"]
            out.append(f"- {claim['claim']} (`{claim['path']}:{item['line']}`, confidence {item['confidence']:.2f})")
            out.append("")
            out.append("  ```")
            for code_line in claim["quote"].strip().splitlines():
                out.append("  " + code_line)
            out.append("  ```")
    else:
        out.append("No claim survived cross-checking, so there is no answer to report.")
    out.append("")
    out.append("## Dropped (" + str(len(dropped)) + ")")
    out.append("")
    for item in dropped:
        out.append(f"- {item['claim']['claim']} ({item['claim']['path']}): {item['why']}")
    if not dropped:
        out.append("Nothing was dropped.")
    return "\n".join(out) + "\n"
