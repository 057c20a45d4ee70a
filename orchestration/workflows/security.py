"""Security: a threat model, then researchers per component and lens (or finders per unit
for a small scope) with read-only tools; every candidate faces blind refuters."""

meta = {
    "name": "security",
    "description": "Write a threat model from a sample of entry points; then, for a large scope, one "
                   "researcher per component (files grouped by directory and language) and lens, with "
                   "read-only tools, or one finder per unit for a small scope; blind refuters try to "
                   "disprove each candidate (CWE ids). Finders stop while the run can still verify what "
                   "they found; the run ends with a coverage record (continue with --continue RUN).",
    "phases": ["threat model", "find + verify"],
    # mode: "auto" picks components above `components_above` files, else units.
    # candidate_rate: the prior per finder call before the run has seen its own (docs/scale.md).
    "args": {"refuters": 2, "sample": 12, "include_tests": False, "skip_covered": False, "candidate_rate": 0.5,
             "mode": "auto", "components_above": 40, "continues": ""},
}

FINDINGS = {
    "type": "object",
    "properties": {
        "findings": {"type": "array", "items": {
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
        }},
        # A researcher's record of what it read and what it did not reach (component mode).
        "read": {"type": "array", "items": {"type": "string"}},
        "not_reached": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["findings"],
}

# Lenses of the component researchers (after Anthropic's security-scan workflow).
LENSES = {
    "input": "injection and untrusted input: SQL, shell, template, path traversal, deserialization, SSRF, XXE",
    "access": "authentication, authorization, sessions and access control",
    "memory": "memory safety, unsafe code, integer overflows and resource exhaustion",
    "crypto": "cryptography, randomness, secrets and credentials handling",
}
TOOLS = ("read_file", "search_text", "list_symbols")

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
    include_tests = bool(args.get("include_tests"))
    all_units = units(code_only=True, include_tests=include_tests)
    if not all_units:
        log("security: no source code in scope")
        return {"candidates": 0, "confirmed": 0, "complete": True}
    files = sorted(set(u["path"] for u in all_units))
    mode = args.get("mode") or "auto"
    if mode == "auto":
        mode = "components" if len(files) > int(args.get("components_above") or 40) else "units"

    phase("threat model")
    sample = sample_entry_points(all_units, int(args.get("sample") or 12))
    threat_model = agent(
        "Write a short threat model for this codebase from its entry points below: the assets, "
        "who can reach which entry point with what input (trust boundaries), and the classes of "
        "weakness that matter here (with CWE ids). Bullet points, at most 40 lines.\n\n"
        + "\n\n".join(excerpt(u) for u in sample),
        role="default", label="security:threat model", tools=("read_file", "search_text"),
    )
    log("security: threat model written from " + str(len(sample)) + " entry-point units; " + mode + " mode")
    context = "Threat model of this codebase:\n" + threat_model
    reads = []

    def find_in_unit(unit):
        prompt = (f"Against the threat model, look for exploitable vulnerabilities in the code above "
                  f"({unit['path']}, lines {unit['start_line'] + 1}-{unit['end_line'] + 1}). Report only what an "
                  "attacker could actually reach. Quote the exact vulnerable code verbatim, explain the "
                  "attack, give the CWE id (e.g. CWE-89), and a fix when it is short. An empty list is a "
                  "fine answer.")
        answer = agent(prompt, unit=unit, context=context, schema=FINDINGS, role="finder",
                       label="security:find " + unit["path"])
        return answer["findings"]

    def research(component, lens):
        prompt = (f"You are a security researcher with one lens: {LENSES[lens]}. The component above is "
                  f"{component['path'] or '.'} ({len(component['paths'])} files). Use your read-only tools to "
                  "follow data into and out of it. Report only vulnerabilities an attacker could reach, each "
                  "quoting the exact vulnerable code verbatim (from the file you name), with the attack, the "
                  "CWE id and a short fix when there is one. Also list in `read` every file you read and in "
                  "`not_reached` files of the component you did not get to. An empty list is a fine answer.")
        answer = agent(prompt, unit=component, context=context, schema=FINDINGS, role="finder", tools=TOOLS,
                       label="security:research:" + lens + " " + (component["path"] or "."))
        reads.append({"component": component["path"], "lens": lens, "read": answer.get("read") or [],
                      "not_reached": answer.get("not_reached") or []})
        return answer["findings"]

    def find_in_component(component):
        found = parallel([lambda lens=lens: research(component, lens) for lens in LENSES])
        return [c for per_lens in found for c in per_lens]

    def verify(item, candidate):
        where = locate(candidate["path"], candidate["quote"])
        if where is None:
            report(candidate)  # the mechanical check drops an invented quote, and records why
            return "dropped"
        if dedup(candidate, where) is not None:
            return "merged"  # same file, nearby line, same CWE family: recorded, not paid twice
        claim = dict(candidate)
        claim["unit"] = item
        verdicts = refute(claim, k=k)
        outcome = vote(verdicts)
        if outcome["verdict"] == "confirmed":
            finding = dict(candidate)
            finding["category"] = "security"
            finding["verdicts"] = verdicts
            finding["confidence"] = outcome["confidence"]
            report(finding)
        return outcome["verdict"]

    phase("find + verify")
    if mode == "components":
        items = components(code_only=True, include_tests=include_tests)
        find, finder_calls = find_in_component, len(LENSES)
    else:
        items, find, finder_calls = all_units, find_in_unit, 1
    todo = uncovered(items) if args.get("skip_covered") else items
    coverage = sweep(todo, find, verify, finder_calls=finder_calls, per_candidate=k + 1, verify_calls=k + 0.255,
                     rate=float(args.get("candidate_rate") or 0.5))
    outcomes = coverage["outcomes"]
    not_reached = sorted(set(p for r in reads for p in r["not_reached"]))
    swept = 0
    if mode == "components" and coverage["complete"]:
        # The sweep of what no researcher reached: files a researcher named as not reached
        # and none read get a per-unit finder each (same verification, same capacity rules).
        read_anywhere = set(p for r in reads for p in r["read"])
        unreached = [u for u in all_units if u["path"] in not_reached and u["path"] not in read_anywhere]
        if unreached:
            log("security: sweeping " + str(len(unreached)) + " units no researcher reached")
            extra = sweep(unreached, find_in_unit, verify, per_candidate=k + 1, verify_calls=k + 0.255,
                          rate=float(args.get("candidate_rate") or 0.5))
            outcomes = dict(outcomes)
            for key in extra["outcomes"]:
                outcomes[key] = outcomes.get(key, 0) + extra["outcomes"][key]
            coverage = {"candidates": coverage["candidates"] + extra["candidates"], "covered": coverage["covered"],
                        "not_covered": coverage["not_covered"] + extra["not_covered"],
                        "complete": extra["complete"], "outcomes": outcomes}
            swept = len(unreached)
    totals = {"candidates": coverage["candidates"], "confirmed": outcomes.get("confirmed", 0),
              "dropped": outcomes.get("dropped", 0), "merged": outcomes.get("merged", 0), "mode": mode,
              "items": len(items), "skipped_covered": len(items) - len(todo), "covered": coverage["covered"],
              "not_covered": coverage["not_covered"], "complete": coverage["complete"],
              "files_read": len(set(p for r in reads for p in r["read"])), "not_reached": not_reached[:200],
              "swept_unreached": swept}
    log("security: " + str(totals["confirmed"]) + " of " + str(totals["candidates"]) + " candidates confirmed, "
        + str(totals["dropped"]) + " dropped (quoted code not in the file), " + str(totals["merged"])
        + " merged; " + str(coverage["covered"]) + " of " + str(len(todo)) + " " + mode + " covered")
    return totals
