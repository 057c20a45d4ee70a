"""The workflow-API primitives the bundled workflows share (runtime/fanout.py, runtime/digest.py,
verification/claims.py, verification/migration_steps.py): each contract on a stand-in for the
script's other names, the bundled workflows' size, and the names as a script sees them."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest

from orch_helpers import InstrumentedProvider, driver, script
from refute.orchestration.calls.capacity import sweep
from refute.orchestration.runtime import digest
from refute.orchestration.runtime.api import script_primitives
from refute.orchestration.runtime.fanout import COMPONENTS_ABOVE, pick_fan_out

MAX_WORKFLOW_LINES = 60


def unit(path: str, start: int = 0, end: int = 2, text: str = "x = 1\n", symbol: str | None = None,
         tokens: int = 10) -> dict[str, Any]:
    return {"id": f"{path}:{start}", "path": path, "start_line": start, "end_line": end, "symbol": symbol,
            "text": text, "content_hash": f"{path}:{start}", "tokens": tokens}


class Names(dict):
    """The script's names, as plain functions that record what they were asked."""

    def __init__(self, **overrides: Any):
        super().__init__()
        self.asked: list[tuple] = []
        self.reported: list[dict] = []
        self.logs: list[str] = []
        self.coverage: list[dict] = []
        self.budget = type("Unlimited", (), {"to_dict": staticmethod(lambda: {
            "tokens": {"remaining": None}, "usd": {"remaining": None}, "calls": {"remaining": 10_000, "paid": 0}})})()
        self.update(
            locate=lambda path, quote: {"path": path, "line": 3, "end_line": 3} if "real" in quote else None,
            dedup=lambda candidate, where: None,
            refute=self._refute, vote=self._vote,
            report=lambda finding: self.reported.append(dict(finding)),
            log=self.logs.append, parallel=self.parallel, pipeline=self.pipeline,
            uncovered=lambda items: [i for i in items if not i.get("covered")],
            components=lambda **kinds: [], SCHEMAS={"survey": {"type": "object"}},
            sweep=lambda items, find, verify, **options: sweep(self, items, find, verify, **options),
        )
        self.update(script_primitives(self))
        self.update(overrides)

    def _refute(self, claim: dict, k: int = 2) -> list[dict]:
        self.asked.append(("refute", dict(claim), k))
        verdict = "refuted" if "false" in str(claim.get("title") or claim.get("claim")) else "confirmed"
        return [{"verdict": verdict, "reason": "because " + verdict, "evidence": ""} for _ in range(k)]

    @staticmethod
    def _vote(verdicts: list[dict]) -> dict:
        return {"verdict": verdicts[0]["verdict"], "confidence": 1.0, "votes": {}}

    @staticmethod
    def parallel(thunks: Any) -> list:
        out = []
        for thunk in thunks:
            try:
                out.append(thunk())
            except LookupError:  # stands in for a failed agent call: the item is None
                out.append(None)
        return out

    def pipeline(self, items: Any, stage: Any) -> list:
        return self.parallel([(lambda item=item: stage(item)) for item in items])

    # what calls/capacity.sweep reads and writes on its api
    def mark_covered(self, items: list) -> None:
        return None

    def record_coverage(self, record: dict) -> None:
        self.coverage.append(record)


# --- fan_out: the one rule ----------------------------------------------------------------------

def test_fan_out_picks_components_above_40_files_and_honours_a_forced_mode():
    assert COMPONENTS_ABOVE == 40
    assert pick_fan_out(40) == "units" and pick_fan_out(41) == "components"
    assert pick_fan_out(500, "units") == "units" and pick_fan_out(1, "components") == "components"
    assert pick_fan_out(10, "auto", components_above=5) == "components"
    with pytest.raises(ValueError, match="give one of auto, units, components"):
        pick_fan_out(10, "files")
    names = Names()
    # Files, not units: 41 units of one file is a small scope.
    assert names["fan_out"]([unit("a.py", i) for i in range(41)]) == "units"
    assert names["fan_out"]([unit(f"m{i}.py") for i in range(41)]) == "components"


# --- check_candidate ------------------------------------------------------------------------------

def candidate(title: str, quote: str = "real code") -> dict:
    return {"path": "a.py", "quote": quote, "title": title, "explanation": "x", "severity": "warning",
            "category": "bug"}


def test_check_candidate_drops_an_invented_quote_before_any_refuter_is_paid():
    names = Names()
    assert names["check_candidate"](unit("a.py"), candidate("t", quote="invented")) == "dropped"
    assert names.asked == [] and names.reported == [candidate("t", quote="invented")]  # report() records the drop


def test_check_candidate_merges_a_duplicate_without_paying_refuters():
    names = Names(dedup=lambda candidate, where: {"into": "earlier", "where": "run"})
    assert names["check_candidate"](unit("a.py"), candidate("t")) == "merged"
    assert names.asked == [] and names.reported == []


def test_check_candidate_reports_a_confirmed_candidate_with_its_verdicts_and_category():
    names = Names()
    item = unit("a.py")
    assert names["check_candidate"](item, candidate("real bug"), k=3, category="security") == "confirmed"
    [(_, claim, k)] = names.asked
    assert k == 3 and claim["unit"] is item  # refuters read the unit's code from the cached prefix
    [finding] = names.reported
    assert finding["category"] == "security" and finding["confidence"] == 1.0 and len(finding["verdicts"]) == 3
    assert "unit" not in finding
    assert names["check_candidate"](item, candidate("a false alarm")) == "refuted"
    assert len(names.reported) == 1  # a refuted candidate is not reported


# --- cross_check ----------------------------------------------------------------------------------

def test_cross_check_keeps_confirmed_claims_and_says_why_the_others_were_dropped():
    names = Names()
    claims = [{"claim": "sums items", "path": "a.py", "quote": "real s += x"},
              {"claim": "caches", "path": "a.py", "quote": "cache[k] = s"},
              {"claim": "a false claim", "path": "a.py", "quote": "real return s"}]
    checked = names["cross_check"](claims, k=2, about={"question": "how?"})
    assert [(s["claim"]["claim"], s["line"], s["confidence"]) for s in checked["survived"]] == [("sums items", 3, 1.0)]
    assert [d["why"] for d in checked["dropped"]] == ["its quote is not in a.py", "refuted: because refuted"]
    # Refuters see the claim and the question, nothing else; the invented quote was never sent.
    assert [c for _, c, _ in names.asked] == [
        {"claim": "sums items", "path": "a.py", "quote": "real s += x", "question": "how?"},
        {"claim": "a false claim", "path": "a.py", "quote": "real return s", "question": "how?"}]


# --- search ---------------------------------------------------------------------------------------

def test_search_per_unit_verifies_every_candidate_and_returns_the_totals():
    names = Names()
    units = [unit("a.py"), unit("b.py"), unit("c.py", text="covered")]
    units[2]["covered"] = True
    found = {"a.py": [candidate("real bug"), candidate("t2", quote="invented")], "b.py": [candidate("a false one")]}
    totals = names["search"](units, lambda u: {"findings": found.get(u["path"], [])}, k=2, skip_covered=True,
                             name="audit")
    assert {k: totals[k] for k in ("mode", "items", "units", "skipped_covered", "candidates", "confirmed",
                                   "dropped", "merged", "covered", "complete")} == {
        "mode": "units", "items": 3, "units": 3, "skipped_covered": 1, "candidates": 3, "confirmed": 1,
        "dropped": 1, "merged": 0, "covered": 2, "complete": True}
    assert names.coverage[0]["fan_out"] == "units" and names.coverage[0]["finder_calls"] == 2
    assert "audit: 1 units already searched at the same content are skipped" in names.logs
    assert names.logs[-1].startswith("audit: 1 of 3 candidates confirmed")


def test_search_per_component_runs_every_lens_and_sweeps_what_no_researcher_reached():
    components = [{"path": "pkg", "paths": ["pkg/a.py", "pkg/b.py"], "kind": "component", "text": "...",
                   "content_hash": "c1"}]
    names = Names(components=lambda **kinds: components)
    units = [unit("pkg/a.py"), unit("pkg/b.py")]
    lenses_asked, units_searched = [], []

    def research(component, lens):
        lenses_asked.append(lens)
        return {"findings": [candidate("real " + lens)] if lens == "input" else [],
                "read": ["pkg/a.py"], "not_reached": ["pkg/b.py"]}

    totals = names["search"](units, lambda u: units_searched.append(u["path"]) or {"findings": []},
                              find_component=research, lenses={"input": "...", "access": "..."}, mode="components",
                              category="security", rate=0.5)
    assert sorted(lenses_asked) == ["access", "input"] and units_searched == ["pkg/b.py"]
    assert totals["mode"] == "components" and totals["items"] == 1 and totals["confirmed"] == 1
    assert totals["files_read"] == 1 and totals["not_reached"] == ["pkg/b.py"] and totals["swept_unreached"] == 1
    assert names.reported[0]["category"] == "security"
    # The capacity prior is per finder call: two lenses, two calls per component.
    assert names.coverage[0]["fan_out"] == "components" and names.coverage[0]["finder_calls"] == 2


def test_search_leaves_a_component_uncovered_when_one_lens_failed():
    components = [{"path": "pkg", "paths": ["pkg/a.py"], "kind": "component", "text": "...", "content_hash": "c1"}]
    names = Names(components=lambda **kinds: components)

    def research(component, lens):
        if lens == "access":
            raise LookupError("the call failed")
        return {"findings": []}

    totals = names["search"]([unit("pkg/a.py")], lambda u: [], find_component=research, lenses=["input", "access"],
                             mode="components")
    assert totals["covered"] == 0 and not totals["complete"]


def test_search_in_component_mode_needs_a_researcher():
    with pytest.raises(TypeError, match="find_component"):
        Names()["search"]([unit("a.py")], lambda u: [], mode="components")


# --- digest ---------------------------------------------------------------------------------------

def test_digests_of_units():
    units = [unit("b.py", 0, 1, "b1\n", "helper"), unit("a.py", 4, 5, "a2\n"), unit("a.py", 0, 3, "a1\n"),
             unit("srv/api.py", 0, 40, "\n".join(f"line {i}" for i in range(30)), "handle_request")]
    assert digest.outline(units[:2]) == "b.py:1-2 helper\na.py:5-6 "
    sample = digest.entry_points(units, limit=2)
    assert [u["path"] for u in sample["units"]] == ["srv/api.py", "b.py"]  # entry points first
    assert sample["text"].startswith("--- srv/api.py:1 handle_request\nline 0\n") and sample["text"].count("line ") == 25
    assert "\n...\n\n--- b.py:1 helper\nb1" in sample["text"]
    texts = digest.file_texts(units)
    assert list(texts) == ["a.py", "b.py", "srv/api.py"]
    assert texts["a.py"] == "--- lines 5-6\na2\n\n--- lines 1-4\na1\n"  # units in scope order
    sized = [unit("a.py", tokens=10), unit("b.py", tokens=15), unit("c.py", tokens=30), unit("d.py", tokens=1)]
    assert digest.file_groups(sized, max_tokens=25) == [["a.py", "b.py"], ["c.py"], ["d.py"]]
    assert digest.file_groups([], max_tokens=25) == []


# --- migrate_files and survey_guide -------------------------------------------------------------------

def edit_names(check_ok: Any = True, check_command: dict | None = None) -> Names:
    proposed: list = []
    names = Names(
        check_edit=lambda path, edits: ({"ok": True, "new_text": "new " + path} if check_ok(edits) else
                                        {"ok": False, "problem": "old text not found"}),
        run_check=lambda files: check_command or {"ran": False, "ok": True},
        propose_edit=lambda path, **kw: proposed.append((path, kw)))
    names.proposed = proposed
    return names


def proposal(*olds: str) -> dict:
    return {"changed": bool(olds), "edits": [{"old": o, "new": o.upper()} for o in olds], "reason": "r"}


def approve(path, prop):
    return {"verdict": "approve", "reason": "fine", "evidence": ""}


def test_migrate_files_proposes_a_reviewed_edit_once_with_its_reviews_on_the_first_replacement():
    names = edit_names(check_ok=lambda edits: True)
    asked = []

    def edit(path, feedback):
        asked.append((path, feedback))
        return proposal("a", "b") if path == "x.py" else proposal()

    out = names["migrate_files"](["x.py", "y.py"], edit, [approve, approve])
    assert out["counts"] == {"proposed": 1, "unchanged": 1}
    assert [f["outcome"] for f in out["files"]] == ["proposed", "unchanged"]
    assert [(p, len(kw["reviews"])) for p, kw in names.proposed] == [("x.py", 2), ("x.py", 0)]
    assert [r["agent"] for r in out["files"][0]["reviews"]] == ["reviewer 1", "reviewer 2"]
    assert asked == [("x.py", ""), ("y.py", "")] and names.logs[-1] == "migrate: proposed 1, unchanged 1"


def test_migrate_files_sends_each_kind_of_failure_back_once():
    # The mechanical check fails twice: the file's outcome, after one revision.
    names = edit_names(check_ok=lambda edits: False)
    feedback = []
    out = names["migrate_files"](["x.py"], lambda p, f: feedback.append(f) or proposal("a"), [approve])
    assert out["files"][0]["outcome"] == "edit check failed" and out["files"][0]["retried"] == ["edit check"]
    assert feedback == ["", "The mechanical check refused it: old text not found"]
    # A reviewer whose call failed counts as a rejection; the revision is withdrawn.
    names = edit_names(check_ok=lambda edits: True)

    def failing_reviewer(path, prop):
        raise LookupError("the call failed")

    revisions = iter([proposal("a"), proposal()])
    out = names["migrate_files"](["x.py"], lambda p, f: next(revisions), [approve, failing_reviewer])
    assert out["files"][0]["outcome"] == "withdrawn" and out["files"][0]["retried"] == ["review"]
    # The person's check fails twice.
    names = edit_names(check_ok=lambda edits: True,
                       check_command={"ran": True, "ok": False, "command": "pytest", "output": "1 failed"})
    feedback.clear()
    out = names["migrate_files"](["x.py"], lambda p, f: feedback.append(f) or proposal("a"), [approve])
    assert out["files"][0]["outcome"] == "check failed" and feedback[1].startswith("The project's check `pytest`")
    assert names.proposed == []


def test_migrate_files_lists_a_file_whose_editor_failed():
    def edit(path, feedback):
        raise LookupError("the call failed")

    out = edit_names()["migrate_files"](["x.py"], edit, [approve])
    assert out == {"files": [{"path": "x.py", "outcome": "failed", "retried": []}], "counts": {"failed": 1}}
    with pytest.raises(TypeError, match="reviewer"):
        edit_names()["migrate_files"](["x.py"], edit, [])


def test_survey_guide_surveys_groups_merges_conventions_and_saves_the_guide():
    prompts: dict[str, str] = {}
    saved = []

    def agent(prompt, **kw):
        prompts[kw["label"]] = prompt
        if kw["label"] == "migrate:guide":
            return "# Guide"
        if kw["label"].startswith("migrate:survey c.py"):
            raise LookupError("the call failed")
        return {"touches": [{"path": "a.py", "what": "os.path"}], "conventions": ["use pathlib", "return str"]}

    names = Names(agent=agent, save_guide=lambda text: saved.append(text) or ".refute/guide.md")
    units = [unit("a.py", tokens=20_000), unit("b.py", tokens=10_000), unit("c.py", tokens=30_000)]
    assert names["survey_guide"]("use pathlib", units) == "# Guide" and saved == ["# Guide"]
    assert sorted(prompts) == ["migrate:guide", "migrate:survey a.py (+0)", "migrate:survey b.py (+0)",
                               "migrate:survey c.py (+0)"]
    guide_prompt = prompts["migrate:guide"]
    assert guide_prompt.count("- a.py: os.path") == 2 and guide_prompt.endswith("- use pathlib\n- return str")
    assert "File a.py:\n--- lines 1-3\nx = 1\n" in prompts["migrate:survey a.py (+0)"]


# --- the bundled workflows ------------------------------------------------------------------------

WORKFLOWS = sorted(p.name for p in resources.files("refute.orchestration.workflows").iterdir()
                   if p.name.endswith(".py") and p.name != "__init__.py")


@pytest.mark.parametrize("name", WORKFLOWS)
def test_every_bundled_workflow_reads_like_a_plan_in_at_most_60_lines(name):
    text = resources.files("refute.orchestration.workflows").joinpath(name).read_text()
    assert len(text.splitlines()) <= MAX_WORKFLOW_LINES, f"{name}: move shared steps into workflow-API primitives"


def test_a_script_sees_the_primitives_and_a_misuse_names_the_signature(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    body = ("    mode = fan_out(units(), 'auto')\n"
            "    try:\n        search(units())\n    except TypeError as exc:\n        return [mode, str(exc)]\n")
    d = driver(tmp_path, script(body), InstrumentedProvider())
    try:
        outcome = d.execute()
    finally:
        d.close()
    assert outcome.status == "completed", outcome.error
    mode, error = outcome.result
    assert mode == "units" and error.startswith("search(units, find_unit, *, find_component=None")
