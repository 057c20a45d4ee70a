"""Migrate: per file, an editor proposes an edit; two reviewers judge it; nothing is written."""

import re

meta = {
    "name": "migrate",
    "description": "Apply a plain-language instruction file by file: an editor agent proposes "
                   "the edit, two reviewers judge it independently, a rejected edit goes back "
                   "to the editor once with the reviews. Surviving edits are proposed, never "
                   "written: apply them with `refute apply RUN`.",
    "phases": ["edit"],
    "args": {"instruction": ""},
}

REVIEW_ANGLES = (
    "Does the edit do exactly what the instruction asks in this file, no more and no less?",
    "Could the edit break behaviour: callers, imports, types, error handling, edge cases?",
)


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


def quote_pattern(quote):
    """Whitespace-insensitive regex for a snippet of code."""
    chars = "".join(quote.split())
    return re.compile(r"\s*".join(re.escape(ch) for ch in chars)) if chars else None


def edit_problem(text, edits):
    """Why these old -> new replacements cannot apply to `text` one after another, or None.
    Checked before anything is proposed, so a file never gets half of a migration."""
    current = text
    for number, edit in enumerate(edits):
        pattern = quote_pattern(edit["old"])
        found = list(pattern.finditer(current)) if pattern else []
        if len(found) != 1:
            where = "is not in the file" if not found else "occurs " + str(len(found)) + " times"
            return "replacement " + str(number + 1) + ": its old text " + where + ": " + edit["old"][:120]
        current = current[:found[0].start()] + edit["new"] + current[found[0].end():]
    return None


def main(args):
    instruction = (args.get("instruction") or "").strip()
    if not instruction:
        raise ValueError("migrate needs an instruction, e.g. --arg instruction='replace os.path with pathlib'")
    by_path = {}
    for unit in units():
        by_path.setdefault(unit["path"], []).append(unit)
    paths = sorted(by_path)
    log("migrate: " + str(len(paths)) + " file(s) in scope")

    def editor(path, reviews):
        prompt = (f"Instruction: {instruction}\n\nFile {path}:\n{file_text(by_path[path])}\n\n"
                  "Propose the edits this file needs to follow the instruction, as exact old -> new "
                  "replacements (old copied verbatim from the file, long enough to be unique). If the "
                  "file needs no change, answer changed=false with no edits.")
        if reviews:
            prompt = prompt + "\n\nYour previous proposal was rejected. Reviews:\n" + "\n".join(
                "- " + r["verdict"] + ": " + r["reason"] for r in reviews)
        label = "migrate:edit " + path + (" (revision)" if reviews else "")
        return agent(prompt, schema=SCHEMAS["edit"], role="editor", label=label, tools=("read_file", "search_text"))

    def review(path, proposal):
        def one(index):
            def call():
                answer = agent(
                    f"Instruction: {instruction}\n\nReviewer {index + 1}: {REVIEW_ANGLES[index]}\n\n"
                    f"File {path}:\n{file_text(by_path[path])}\n\nProposed edits:\n{show_edits(proposal['edits'])}\n\n"
                    "Approve or reject, with the reason and the code you quote as evidence.",
                    schema=SCHEMAS["review"], role="refuter", label="migrate:review " + str(index + 1) + " " + path,
                    tools=("read_file", "search_text"))
                return {"verdict": answer["verdict"], "reason": answer["reason"],
                        "evidence": answer.get("evidence", ""), "agent": "reviewer " + str(index + 1)}
            return call
        # A reviewer whose call failed (None) counts as a rejection: an edit is never
        # proposed on a review that did not happen.
        return [r if r is not None else {"verdict": "reject", "reason": "the reviewer call failed", "evidence": "",
                                         "agent": "reviewer " + str(i + 1)}
                for i, r in enumerate(parallel([one(0), one(1)]))]

    def judge(path, proposal):
        """The reviews of a proposal; replacements that cannot apply are rejected unread."""
        problem = edit_problem(file_text(by_path[path]), proposal["edits"])
        if problem:
            return [{"verdict": "reject", "reason": problem, "evidence": "", "agent": "mechanical check"}]
        return review(path, proposal)

    def migrate_file(path):
        proposal = editor(path, [])
        if not proposal["changed"] or not proposal["edits"]:
            return {"path": path, "outcome": "unchanged"}
        reviews = judge(path, proposal)
        if any(r["verdict"] == "reject" for r in reviews):
            proposal = editor(path, reviews)  # one revision, with the reviews
            if not proposal["changed"] or not proposal["edits"]:
                return {"path": path, "outcome": "withdrawn after review"}
            reviews = judge(path, proposal)
            if any(r["verdict"] == "reject" for r in reviews):
                log("migrate: " + path + " rejected twice; not proposed")
                return {"path": path, "outcome": "rejected", "reviews": reviews}
        for index, edit in enumerate(proposal["edits"]):
            # Several edits to one file compose into one proposal; its reviews are attached once.
            propose_edit(path, old=edit["old"], new=edit["new"],
                         reason=proposal["reason"], reviews=reviews if index == 0 else [])
        return {"path": path, "outcome": "proposed"}

    phase("edit")
    results = pipeline(paths, migrate_file)
    counts = {}
    for result in results:
        if result:
            counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
    log("migrate: " + ", ".join(k + " " + str(v) for k, v in sorted(counts.items())))
    return {"files": results, "counts": counts}
