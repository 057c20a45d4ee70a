"""Audit: find bugs per unit (or per component for a large scope); every candidate faces
blind refuters before it is shown."""

meta = {
    "name": "audit",
    "description": "Find bugs in the source code: one finder per work unit (one per file, split only above the "
                   "unit budget), or for a large scope one researcher per component (files grouped by "
                   "directory) with read-only tools; each candidate faces two blind refuters (a third on a split "
                   "vote); finders stop while the run can still verify what they found, and the run ends with "
                   "a coverage record (continue with --continue RUN).",
    "phases": ["find + verify"],
    # mode: "auto" picks components above `components_above` files (fan_out), else units.
    # candidate_rate: the prior per finder call before the run has seen its own (docs/scale.md).
    "args": {"focus": "", "refuters": 2, "include_tests": False, "skip_covered": False, "candidate_rate": 1.0,
             "mode": "auto", "components_above": 40, "continues": ""},  # continues: --continue RUN
}

ASK = """Report only problems you can point at. For each one, quote the exact code it is about
(copied verbatim from the file, one to three lines), say what goes wrong and when, and
rate it error (wrong behaviour), warning (likely), info or hint. Category: "bug" unless
it is "security", "performance" or "concurrency". An empty list is a fine answer."""
BUGS = "real bugs: wrong results, crashes,\nresource leaks, races, broken error handling."


def main(args):
    focus = "Focus on: " + args["focus"] + "." if args.get("focus") else ""
    include_tests = bool(args.get("include_tests"))
    all_units = units(code_only=True, include_tests=include_tests)
    mode = fan_out(all_units, args.get("mode") or "auto", int(args.get("components_above") or 40))

    def find_in_unit(unit):
        where = f"{unit['path']} (lines {unit['start_line'] + 1}-{unit['end_line'] + 1}"
        where = where + (f", {unit.get('symbol')})" if unit.get("symbol") else ")")
        return agent(f"You are auditing the code above for {BUGS} {focus}\nFile: {where}\n\n{ASK}", unit=unit,
                     schema=SCHEMAS["findings"], role="finder", label="audit:find " + unit["path"])

    def research(component):
        prompt = (f"You are auditing the component above ({component['path'] or '.'}, {len(component['paths'])} "
                  f"files) for {BUGS} {focus} Use your read-only tools to follow calls across files. List in "
                  "`read` every file you read and in `not_reached` files of the component you did not get to.")
        return agent(prompt + "\n\n" + ASK, unit=component, schema=SCHEMAS["research"], role="finder",
                     tools=("read_file", "search_text", "list_symbols"),
                     label="audit:research " + (component["path"] or "."))

    phase("find + verify")
    # Worst case per candidate: k refuters and a tie-break; expected: k + P(split) (verify.py).
    return search(all_units, find_in_unit, find_component=research, mode=mode, k=int(args.get("refuters") or 2),
                  rate=float(args.get("candidate_rate") or 1.0), skip_covered=bool(args.get("skip_covered")),
                  include_tests=include_tests, name="audit")
