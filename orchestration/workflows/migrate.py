"""Migrate: a survey writes a shared guide; per file an editor proposes, checks run, two reviewers judge.

Phases:
1. survey: surveyors (one per group of files) map what the instruction touches (call
   sites, types, idioms, conventions); one writer merges their notes into a migration
   guide, saved with the run (load_guide/save_guide). A guide given with `--guide FILE`
   (or kept by a resumed run) is used as it is and nothing is surveyed.
   `--arg survey_only=true` stops here, so a person can read and edit the guide first.
2. edit: per file, an editor proposes old -> new replacements with the instruction and the
   guide as shared, cached context (the same prefix for every editor and reviewer).
   Before any reviewer is paid, check_edit() checks that each replacement applies exactly
   once, that they compose, and that the file still parses (no new tree-sitter error
   node). Then two reviewers judge it. Then, only if the person named one, the project's
   own check command runs on a temporary worktree holding the edit (run_check).
   Each kind of failure (mechanical check, review, project check) sends the file back to
   the editor once, with the reason, the reviews or the check's output.
Nothing is written: surviving edits are proposed; `refute apply RUN [--diff]`.
The result lists every file's outcome: proposed, unchanged, rejected (with the reviews),
edit check failed (with the reason), check failed (with the output), withdrawn.
"""

meta = {
    "name": "migrate",
    "description": "Apply a plain-language instruction across files: a survey writes a migration guide "
                   "every editor shares; per file an editor proposes the edit, a mechanical check (applies "
                   "once, still parses) and two reviewers judge it, and the project's own check command "
                   "runs when you name one (--check). A failure goes back to the editor once. Edits are "
                   "proposed, never written: preview with `refute apply RUN --diff`.",
    "phases": ["survey", "edit"],
    "args": {"instruction": "", "survey_only": False},
    "required": ["instruction"],
}

REVIEW_ANGLES = (
    "Does the edit do exactly what the instruction asks in this file, no more and no less, and follow the guide?",
    "Could the edit break behaviour: callers, imports, types, error handling, edge cases?",
)
SURVEY_GROUP_TOKENS = 24000
SURVEY_SCHEMA = {
    "type": "object",
    "properties": {
        "touches": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "what": {"type": "string"}},
                "required": ["path", "what"],
                "additionalProperties": False,
            },
        },
        "conventions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["touches", "conventions"],
    "additionalProperties": False,
}


def file_text(file_units):
    parts = []
    for unit in file_units:
        parts.append(f"--- lines {unit['start_line'] + 1}-{unit['end_line'] + 1}\n{unit['text']}")
    return "\n".join(parts)


def show_edits(edits):
    shown = []
    for edit in edits:
        shown.append("replace:\n" + edit["old"] + "\nwith:\n" + edit["new"])
    return "\n\n".join(shown)


def survey_groups(paths, by_path):
    """Files in path order, cut into groups of about SURVEY_GROUP_TOKENS tokens."""
    groups = []
    current = []
    size = 0
    for path in paths:
        tokens = sum(int(u.get("tokens") or 0) for u in by_path[path])
        if current and size + tokens > SURVEY_GROUP_TOKENS:
            groups.append(current)
            current = []
            size = 0
        current.append(path)
        size = size + tokens
    if current:
        groups.append(current)
    return groups


def main(args):
    instruction = (args.get("instruction") or "").strip()
    if not instruction:
        raise ValueError("migrate needs an instruction, e.g. --arg instruction='replace os.path with pathlib'")
    by_path = {}
    for unit in units():
        by_path.setdefault(unit["path"], []).append(unit)
    paths = sorted(by_path)
    log("migrate: " + str(len(paths)) + " file(s) in scope")

    # --- survey: one guide for every editor -------------------------------------------------
    guide = load_guide()
    if guide:
        log("migrate: using the guide kept with this run (" + str(len(guide)) + " characters); no survey")
    else:
        phase("survey")

        def surveyor(group):
            def call():
                listing = "\n\n".join("File " + p + ":\n" + file_text(by_path[p]) for p in group)
                return agent(
                    "Instruction: " + instruction + "\n\nYou are surveying a codebase before a migration. For "
                    "the files below, list every place the instruction touches (call sites, definitions, "
                    "types, imports: path and what must change) and the conventions the migrated code must "
                    "follow so every file makes the same choices (names, error handling, imports, idioms).\n\n"
                    + listing,
                    schema=SURVEY_SCHEMA, role="finder", label="migrate:survey " + group[0] + " (+" +
                    str(len(group) - 1) + ")")
            return call

        notes = parallel([surveyor(group) for group in survey_groups(paths, by_path)])
        touches = []
        conventions = []
        for note in notes:
            for item in note["touches"]:
                touches.append("- " + item["path"] + ": " + item["what"])
            for rule in note["conventions"]:
                if rule not in conventions:
                    conventions.append(rule)
        guide = agent(
            "Instruction: " + instruction + "\n\nWrite the migration guide that every editor of this migration "
            "will follow, in Markdown: the target API or idiom, the exact conventions (names, imports, error "
            "handling), what must not change, and the places that need care. Surveyors found:\n\nPlaces:\n"
            + "\n".join(touches) + "\n\nConventions:\n" + "\n".join("- " + c for c in conventions),
            role="default", label="migrate:guide")
        saved = save_guide(guide)
        log("migrate: guide saved to " + saved + " (edit it and start again with --guide to change it)")
    if args.get("survey_only"):
        return {"guide": guide, "files": [], "counts": {}, "survey_only": True}

    shared = ("Instruction: " + instruction + "\n\nMigration guide (every file of this migration follows it):\n"
              + guide)

    def editor(path, feedback):
        prompt = (f"File {path}:\n{file_text(by_path[path])}\n\n"
                  "Propose the edits this file needs to follow the instruction and the guide, as exact "
                  "old -> new replacements (old copied verbatim from the file, long enough to be unique, "
                  "applied one after another). If the file needs no change, answer changed=false with no edits.")
        if feedback:
            prompt = prompt + "\n\nYour previous proposal failed. " + feedback
        label = "migrate:edit " + path + (" (revision)" if feedback else "")
        return agent(prompt, context=shared, schema=SCHEMAS["edit"], role="editor", label=label,
                     tools=("read_file", "search_text"))

    def review(path, proposal):
        def one(index):
            def call():
                answer = agent(
                    f"Reviewer {index + 1}: {REVIEW_ANGLES[index]}\n\n"
                    f"File {path}:\n{file_text(by_path[path])}\n\nProposed edits:\n{show_edits(proposal['edits'])}\n\n"
                    "Approve or reject, with the reason and the code you quote as evidence.",
                    context=shared, schema=SCHEMAS["review"], role="refuter",
                    label="migrate:review " + str(index + 1) + " " + path, tools=("read_file", "search_text"))
                return {"verdict": answer["verdict"], "reason": answer["reason"],
                        "evidence": answer.get("evidence", ""), "agent": "reviewer " + str(index + 1)}
            return call
        # A reviewer whose call failed (None) counts as a rejection: an edit is never
        # proposed on a review that did not happen.
        return [r if r is not None else {"verdict": "reject", "reason": "the reviewer call failed", "evidence": "",
                                         "agent": "reviewer " + str(i + 1)}
                for i, r in enumerate(parallel([one(0), one(1)]))]

    def migrate_file(path):
        retried = []  # the kinds of failure that already sent this file back once
        proposal = editor(path, "")
        while True:
            if not proposal["changed"] or not proposal["edits"]:
                outcome = "withdrawn" if retried else "unchanged"
                return {"path": path, "outcome": outcome, "retried": retried}
            checked = check_edit(path, proposal["edits"])
            if not checked["ok"]:
                if "edit check" in retried:
                    return {"path": path, "outcome": "edit check failed", "problem": checked["problem"],
                            "retried": retried}
                retried.append("edit check")
                proposal = editor(path, "The mechanical check refused it: " + checked["problem"])
                continue
            reviews = review(path, proposal)
            if any(r["verdict"] == "reject" for r in reviews):
                if "review" in retried:
                    log("migrate: " + path + " rejected twice; not proposed")
                    return {"path": path, "outcome": "rejected", "reviews": reviews, "retried": retried}
                retried.append("review")
                proposal = editor(path, "Reviews:\n" + "\n".join(
                    "- " + r["verdict"] + ": " + r["reason"] for r in reviews))
                continue
            project = run_check({path: checked["new_text"]})
            if not project["ok"]:
                if "check" in retried:
                    return {"path": path, "outcome": "check failed", "check": project, "reviews": reviews,
                            "retried": retried}
                retried.append("check")
                proposal = editor(path, "The project's check `" + project["command"] + "` failed on it:\n"
                                  + project["output"])
                continue
            for index, edit in enumerate(proposal["edits"]):
                # Several edits to one file compose into one proposal; its reviews are attached once.
                propose_edit(path, old=edit["old"], new=edit["new"],
                             reason=proposal["reason"], reviews=reviews if index == 0 else [])
            result = {"path": path, "outcome": "proposed", "reviews": reviews, "retried": retried}
            if project["ran"]:
                result["check"] = project
            return result

    phase("edit")
    results = pipeline(paths, migrate_file)
    counts = {}
    for result in results:
        if result:
            counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
    failed = len([r for r in results if r is None])
    if failed:
        counts["failed"] = failed
    log("migrate: " + ", ".join(k + " " + str(v) for k, v in sorted(counts.items())))
    files = []
    for path, result in zip(paths, results):
        files.append(result if result else {"path": path, "outcome": "failed", "retried": []})
    return {"files": files, "counts": counts}
