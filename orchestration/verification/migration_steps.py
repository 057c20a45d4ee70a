"""A migration's two steps: the survey that writes the shared guide, and the edit loop
(propose, check mechanically, review, run the project's check; a failure goes back to the
editor once).

Workflow API names (bound over the script's other names by runtime/api.py's
`script_primitives`; they call `agent`, `parallel`, `pipeline`, `check_edit`, `run_check`,
`propose_edit`, `save_guide` and `log` as a script would, so the calls, journal keys and
events are the script's own):

| name | does |
| --- | --- |
| survey_guide(instruction, units, *, group_tokens=24000) | surveyors per group of files, one guide writer; the guide is saved with the run and returned |
| migrate_files(paths, edit, reviewers) | every file through the edit loop below, in parallel; {"files": [per-file result], "counts": {outcome: n}} |

`survey_guide` contract: the scope's files, in path order, are cut into groups of about
`group_tokens` estimated tokens (`file_groups`); one surveyor per group (role "finder",
SCHEMAS["survey"], label "migrate:survey FIRST (+N)") lists the places the instruction
touches and the conventions the migrated code must follow; one writer (label
"migrate:guide") merges them (conventions de-duplicated in order) into a Markdown guide;
`save_guide` keeps it with the run (a person can edit it and start again with `--guide`).
A surveyor whose call failed is left out of the guide (the failed call is listed in the
run's report).

Edit loop, per file: `edit(path, feedback)` returns an editor's answer (SCHEMAS["edit"]: changed,
edits [{old, new}], reason); `feedback` is "" the first time. Then, in this order (each
step is cheaper than the next, so nothing is paid for an edit an earlier step refuses):
1. no change proposed: "unchanged" (or "withdrawn" after a retry);
2. `check_edit(path, edits)`: every replacement applies exactly once, they compose, the
   file still parses; on failure the editor gets the problem back;
3. the reviewers, `reviewer(path, proposal)` each, in parallel, answering
   SCHEMAS["review"]; a reviewer whose call failed counts as a rejection (an edit is
   never proposed on a review that did not happen); one rejection sends it back with
   every review;
4. `run_check({path: new text})`, the person's check command when they named one;
   on failure the editor gets the command and its output.
Each kind of failure sends the file back at most once; the second failure of a kind is
the file's outcome ("edit check failed" with the problem, "rejected" with the reviews,
"check failed" with the check). A surviving edit is proposed (never written): each
replacement through `propose_edit`, the reviews attached to the first. A file whose
editor call failed is "failed". Every result lists the kinds it `retried`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from refute.orchestration.runtime.digest import GROUP_TOKENS, file_groups, file_texts


class MigrationSteps:
    def __init__(self, names: Mapping[str, Any]):
        self._n = names

    def names(self) -> dict[str, Callable[..., Any]]:
        return {"survey_guide": self.survey_guide, "migrate_files": self.migrate_files}

    def survey_guide(self, instruction: str, units: Any, *, group_tokens: int = GROUP_TOKENS) -> str:
        n = self._n
        files = file_texts(list(units or []))

        def surveyor(group: list[str]) -> Callable[[], Any]:
            listing = "\n\n".join("File " + p + ":\n" + files[p] for p in group)
            return lambda: n["agent"](
                "Instruction: " + instruction + "\n\nYou are surveying a codebase before a migration. For the files "
                "below, list every place the instruction touches (call sites, definitions, types, imports: path and "
                "what must change) and the conventions the migrated code must follow so every file makes the same "
                "choices (names, error handling, imports, idioms).\n\n" + listing,
                schema=n["SCHEMAS"]["survey"], role="finder",
                label="migrate:survey " + group[0] + " (+" + str(len(group) - 1) + ")")

        notes = [note for note in n["parallel"]([surveyor(g) for g in file_groups(units, group_tokens)]) if note]
        touches = ["- " + item["path"] + ": " + item["what"] for note in notes for item in note["touches"]]
        conventions = list(dict.fromkeys(rule for note in notes for rule in note["conventions"]))
        guide = n["agent"](
            "Instruction: " + instruction + "\n\nWrite the migration guide that every editor of this migration will "
            "follow, in Markdown: the target API or idiom, the exact conventions (names, imports, error handling), "
            "what must not change, and the places that need care. Surveyors found:\n\nPlaces:\n"
            + "\n".join(touches) + "\n\nConventions:\n" + "\n".join("- " + c for c in conventions),
            role="default", label="migrate:guide")
        saved = n["save_guide"](guide)
        n["log"]("migrate: guide saved to " + saved + " (edit it and start again with --guide to change it)")
        return guide

    def _reviews(self, reviewers: list[Callable[..., Any]], path: str, proposal: dict[str, Any]) -> list[dict]:
        answers = self._n["parallel"]([(lambda r=r: r(path, proposal)) for r in reviewers])
        reviews = []
        for index, answer in enumerate(answers):
            if answer is None:
                answer = {"verdict": "reject", "reason": "the reviewer call failed", "evidence": ""}
            reviews.append({"verdict": answer["verdict"], "reason": answer["reason"],
                            "evidence": answer.get("evidence", ""), "agent": "reviewer " + str(index + 1)})
        return reviews

    def _settle(self, path: str, edit: Callable[[str, str], Any], reviewers: list[Callable[..., Any]]) -> dict:
        n = self._n
        retried: list[str] = []  # the kinds of failure that already sent this file back once
        proposal = edit(path, "")
        while True:
            if not proposal["changed"] or not proposal["edits"]:
                return {"path": path, "outcome": "withdrawn" if retried else "unchanged", "retried": retried}
            checked = n["check_edit"](path, proposal["edits"])
            if not checked["ok"]:
                if "edit check" in retried:
                    return {"path": path, "outcome": "edit check failed", "problem": checked["problem"],
                            "retried": retried}
                retried.append("edit check")
                proposal = edit(path, "The mechanical check refused it: " + checked["problem"])
                continue
            reviews = self._reviews(reviewers, path, proposal)
            if any(r["verdict"] == "reject" for r in reviews):
                if "review" in retried:
                    n["log"]("migrate: " + path + " rejected twice; not proposed")
                    return {"path": path, "outcome": "rejected", "reviews": reviews, "retried": retried}
                retried.append("review")
                proposal = edit(path, "Reviews:\n" + "\n".join("- " + r["verdict"] + ": " + r["reason"]
                                                               for r in reviews))
                continue
            project = n["run_check"]({path: checked["new_text"]})
            if not project["ok"]:
                if "check" in retried:
                    return {"path": path, "outcome": "check failed", "check": project, "reviews": reviews,
                            "retried": retried}
                retried.append("check")
                proposal = edit(path, "The project's check `" + project["command"] + "` failed on it:\n"
                                + project["output"])
                continue
            for index, one in enumerate(proposal["edits"]):
                # Several edits to one file compose into one proposal; its reviews are attached once.
                n["propose_edit"](path, old=one["old"], new=one["new"], reason=proposal["reason"],
                                  reviews=reviews if index == 0 else [])
            result = {"path": path, "outcome": "proposed", "reviews": reviews, "retried": retried}
            if project["ran"]:
                result["check"] = project
            return result

    def migrate_files(self, paths: Any, edit: Callable[[str, str], Any], reviewers: Any) -> dict[str, Any]:
        paths = list(paths or [])
        reviewers = list(reviewers or [])
        if not callable(edit) or not reviewers or not all(callable(r) for r in reviewers):
            raise TypeError("migrate_files(paths, edit, reviewers): edit(path, feedback) and a list of "
                            "reviewer(path, proposal) functions")
        results = self._n["pipeline"](paths, lambda path: self._settle(path, edit, reviewers))
        counts: dict[str, int] = {}
        for result in results:
            if result:
                counts[result["outcome"]] = counts.get(result["outcome"], 0) + 1
        failed = len([r for r in results if r is None])
        if failed:
            counts["failed"] = failed
        self._n["log"]("migrate: " + ", ".join(k + " " + str(v) for k, v in sorted(counts.items())))
        files = [r if r else {"path": p, "outcome": "failed", "retried": []} for p, r in zip(paths, results)]
        return {"files": files, "counts": counts}


__all__ = ["MigrationSteps"]
