"""Migrate: a survey writes a shared guide; per file an editor proposes, checks run, two reviewers judge.

survey_guide and migrate_files (verification/migration_steps.py) hold the steps: surveyors per
group of files and one guide writer; per file the editor, the mechanical check (applies once,
still parses), two reviewers, the person's --check; each kind of failure goes back to the editor
once. A guide given with --guide (or kept by a resumed run) skips the survey; survey_only=true
stops after it. Nothing is written: `refute apply RUN [--diff]`.
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
TOOLS = ("read_file", "search_text")


def main(args):
    instruction = (args.get("instruction") or "").strip()
    if not instruction:
        raise ValueError("migrate needs an instruction, e.g. --arg instruction='replace os.path with pathlib'")
    files = file_texts(units())
    log("migrate: " + str(len(files)) + " file(s) in scope")
    guide = load_guide()
    if guide:
        log("migrate: using the guide kept with this run (" + str(len(guide)) + " characters); no survey")
    else:
        phase("survey")
        guide = survey_guide(instruction, units())
    if args.get("survey_only"):
        return {"guide": guide, "files": [], "counts": {}, "survey_only": True}
    shared = "Instruction: " + instruction + "\n\nMigration guide (every file of this migration follows it):\n" + guide

    def edit(path, feedback):
        prompt = (f"File {path}:\n{files[path]}\n\nPropose the edits this file needs to follow the instruction and "
                  "the guide, as exact old -> new replacements (old copied verbatim from the file, long enough to be "
                  "unique, applied one after another). If the file needs no change, answer changed=false with no edits.")
        return agent(prompt + ("\n\nYour previous proposal failed. " + feedback if feedback else ""), context=shared,
                     schema=SCHEMAS["edit"], role="editor", tools=TOOLS,
                     label="migrate:edit " + path + (" (revision)" if feedback else ""))

    def reviewer(index):
        return lambda path, proposal: agent(
            f"Reviewer {index + 1}: {REVIEW_ANGLES[index]}\n\nFile {path}:\n{files[path]}\n\nProposed edits:\n"
            + "\n\n".join("replace:\n" + e["old"] + "\nwith:\n" + e["new"] for e in proposal["edits"])
            + "\n\nApprove or reject, with the reason and the code you quote as evidence.", context=shared,
            schema=SCHEMAS["review"], role="refuter", label="migrate:review " + str(index + 1) + " " + path, tools=TOOLS)

    phase("edit")
    return migrate_files(list(files), edit, [reviewer(0), reviewer(1)])
