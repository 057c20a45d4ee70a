"""Security: a threat model from the entry points, then per-unit findings against it, cross-checked."""

meta = {
    "name": "security",
    "description": "Write a threat model from a sample of entry points, look for vulnerabilities "
                   "in each unit against it (with CWE ids), and have blind refuters try to "
                   "disprove each one before it is reported.",
    "phases": ["threat model", "find + verify"],
    "args": {"refuters": 2, "sample": 12},
}

FINDINGS = {
    "type": "object",
    "properties": {"findings": {"type": "array", "items": {
        "type": "object",
        "properties": {
            "path": {"type": "string"}, "quote": {"type": "string"}, "title": {"type": "string"},
            "explanation": {"type": "string"},
            "severity": {"type": "string", "enum": ["error", "warning", "info", "hint"]},
            "category": {"type": "string", "enum": ["security"]},
            "cwe": {"type": "string"},
            "fix": {"type": "object", "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
                    "required": ["old", "new"]},
        },
        "required": ["path", "quote", "title", "explanation", "severity", "category", "cwe"],
    }}},
    "required": ["findings"],
}

ENTRY_HINTS = ("main", "handler", "handle", "route", "view", "api", "request", "cli", "server",
               "app", "endpoint", "upload", "login", "auth", "parse", "load", "command")


def looks_like_entry_point(unit):
    name = ((unit.get("symbol") or "") + " " + unit["path"]).lower()
    return any(hint in name for hint in ENTRY_HINTS)


def sample_entry_points(all_units, limit):
    entries = [u for u in all_units if looks_like_entry_point(u)]
    rest = [u for u in all_units if not looks_like_entry_point(u)]
    return (entries + rest)[:limit]


def excerpt(unit):
    lines = unit["text"].splitlines()
    head = "\n".join(lines[:25])
    more = "\n..." if len(lines) > 25 else ""
    return f"--- {unit['path']}:{unit['start_line'] + 1} {unit.get('symbol') or ''}\n{head}{more}"


def main(args):
    k = int(args.get("refuters") or 2)
    all_units = units()
    if not all_units:
        log("security: no work units in scope")
        return {"candidates": 0, "confirmed": 0}

    phase("threat model")
    sample = sample_entry_points(all_units, int(args.get("sample") or 12))
    threat_model = agent(
        "Write a short threat model for this codebase from its entry points below: the assets, "
        "who can reach which entry point with what input (trust boundaries), and the classes of "
        "weakness that matter here (with CWE ids). Bullet points, at most 40 lines.\n\n"
        + "\n\n".join(excerpt(u) for u in sample),
        role="default", label="security:threat model", tools=("read_file", "search_text"),
    )
    log("security: threat model written from " + str(len(sample)) + " entry-point units")
    context = "Threat model of this codebase:\n" + threat_model

    def find(unit):
        prompt = (f"Against the threat model above, look for exploitable vulnerabilities in "
                  f"{unit['path']} (lines {unit['start_line'] + 1}-{unit['end_line'] + 1}). Report only what an "
                  "attacker could actually reach. Quote the exact vulnerable code verbatim, explain the "
                  "attack, give the CWE id (e.g. CWE-89), and a fix when it is short. An empty list is a "
                  "fine answer.")
        answer = agent(prompt, unit=unit, context=context, schema=FINDINGS, role="finder",
                       label="security:find " + unit["path"])
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
                finding["category"] = "security"
                finding["verdicts"] = verdicts
                finding["confidence"] = outcome["confidence"]
                report(finding)
                confirmed = confirmed + 1
        return {"candidates": len(found["candidates"]), "confirmed": confirmed, "dropped": dropped}

    phase("find + verify")
    results = pipeline(all_units, find, verify)
    totals = {"candidates": sum(r["candidates"] for r in results if r),
              "confirmed": sum(r["confirmed"] for r in results if r),
              "dropped": sum(r["dropped"] for r in results if r)}
    log("security: " + str(totals["confirmed"]) + " of " + str(totals["candidates"]) + " candidates confirmed, "
        + str(totals["dropped"]) + " dropped (quoted code not in the file)")
    return totals
