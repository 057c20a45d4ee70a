"""Security: a threat model, then researchers per component and lens (or finders per unit); blind refuters."""

meta = {
    "name": "security",
    "description": "A threat model from sampled entry points; then one researcher per component (files grouped by "
                   "directory) and lens with read-only tools for a large scope, else one finder per unit; blind "
                   "refuters try to disprove each candidate (CWE ids); the run ends with a coverage record.",
    "phases": ["threat model", "find + verify"],
    "args": {"refuters": 2, "sample": 12, "include_tests": False, "skip_covered": False, "candidate_rate": 0.5,
             "mode": "auto", "components_above": 40, "continues": ""},
}

LENSES = {  # of the component researchers (after Anthropic's security-scan workflow)
    "input": "injection and untrusted input: SQL, shell, template, path traversal, deserialization, SSRF, XXE",
    "access": "authentication, authorization, sessions and access control",
    "memory": "memory safety, unsafe code, integer overflows and resource exhaustion",
    "crypto": "cryptography, randomness, secrets and credentials handling",
}
TOOLS = ("read_file", "search_text", "list_symbols")  # a researcher's read-only tools

def main(args):
    tests = bool(args.get("include_tests"))
    all_units = units(code_only=True, include_tests=tests)
    if not all_units:
        log("security: no source code in scope")
        return {"candidates": 0, "confirmed": 0, "complete": True}
    mode = fan_out(all_units, args.get("mode") or "auto", int(args.get("components_above") or 40))

    phase("threat model")
    sample = entry_points(all_units, int(args.get("sample") or 12))
    threat_model = agent(
        "Write a short threat model for this codebase from its entry points below: the assets, who can reach which "
        "entry point with what input (trust boundaries), and the classes of weakness that matter here (with CWE "
        "ids). Bullet points, at most 40 lines.\n\n" + sample["text"],
        role="default", label="security:threat model", tools=("read_file", "search_text"))
    log("security: threat model written from " + str(len(sample["units"])) + " entry-point units; " + mode + " mode")
    context = "Threat model of this codebase:\n" + threat_model

    def find_in_unit(unit):
        prompt = (f"Against the threat model, look for exploitable vulnerabilities in the code above ({unit['path']}, "
                  f"lines {unit['start_line'] + 1}-{unit['end_line'] + 1}). Report only what an attacker could actually "
                  "reach. Quote the exact vulnerable code verbatim, explain the attack, give the CWE id (e.g. CWE-89), "
                  "and a fix when it is short. An empty list is a fine answer.")
        return agent(prompt, unit=unit, context=context, schema=SCHEMAS["security"], role="finder",
                     label="security:find " + unit["path"])

    def research(component, lens):
        prompt = (f"You are a security researcher with one lens: {LENSES[lens]}. The component above is "
                  f"{component['path'] or '.'} ({len(component['paths'])} files). Use your read-only tools to follow "
                  "data into and out of it. Report only vulnerabilities an attacker could reach, each quoting the exact "
                  "vulnerable code verbatim (from the file you name), with the attack, the CWE id and a short fix when "
                  "there is one. Also list in `read` every file you read and in `not_reached` files of the component "
                  "you did not get to. An empty list is a fine answer.")
        return agent(prompt, unit=component, context=context, schema=SCHEMAS["security"], role="finder", tools=TOOLS,
                     label="security:research:" + lens + " " + (component["path"] or "."))

    phase("find + verify")
    return search(all_units, find_in_unit, find_component=research, lenses=LENSES, mode=mode, category="security",
                  k=int(args.get("refuters") or 2), rate=float(args.get("candidate_rate") or 0.5),
                  skip_covered=bool(args.get("skip_covered")), include_tests=tests, name="security")
