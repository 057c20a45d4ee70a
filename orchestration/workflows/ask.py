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


def main(args):
    question = (args.get("question") or "").strip()
    if not question:
        raise ValueError("ask needs a question, e.g. --arg question='where are sessions invalidated?'")
    context = "The codebase's work units (path:lines symbol):\n" + outline(units())

    phase("explore")
    batches = parallel([(lambda angle=angle: agent(
        f"Question: {question}\nAngle: {angle}\n\nRead the code with your tools and make specific claims that "
        "answer the question from this angle. Every claim must quote the code that shows it, verbatim, and name "
        "its file.", context=context, schema=SCHEMAS["claims"], label="ask:explore " + angle.split(":")[0],
        tools=("read_file", "search_text"))["claims"]) for angle in ANGLES])
    claims, seen = [], {}
    for claim in [c for batch in batches for c in batch or []]:  # None: that explorer's call failed
        key = claim["path"] + "|" + " ".join(claim["quote"].split()) + "|" + claim["claim"].strip().lower()
        if key not in seen:
            seen[key] = True
            claims.append(claim)

    phase("cross-check")
    checked = cross_check(claims, k=int(args.get("refuters") or 2), about={"question": question})
    survived, dropped = checked["survived"], checked["dropped"]
    out = ["# " + question, ""]
    if survived:
        out += ["## What the code shows (" + str(len(survived)) + " claim(s) survived cross-checking)", ""]
    else:
        out.append("No claim survived cross-checking, so there is no answer to report.")
    for item in survived:
        claim = item["claim"]
        out += [f"- {claim['claim']} (`{claim['path']}:{item['line']}`, confidence {item['confidence']:.2f})", "",
                "  ```"] + ["  " + code_line for code_line in claim["quote"].strip().splitlines()] + ["  ```"]
    out += ["", "## Dropped (" + str(len(dropped)) + ")", ""]
    for item in dropped:
        out.append(f"- {item['claim']['claim']} ({item['claim']['path']}): {item['why']}")
    if not dropped:
        out.append("Nothing was dropped.")
    return "\n".join(out) + "\n"
