"""The eval harness's parts: the stratified sample, reading a run back (raw candidates by
role from the real journal, survivors from finding events, cost as recorded, failed
calls), the eval workspace (the truth never copied, the corpus never written) and the
provider passed through to the engine."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from eval_helpers import owasp_dir
from refute.orchestration.evaluation.corpus import Case, load_corpus
from refute.orchestration.evaluation.harness import collect, prepare_workspace
from refute.orchestration.evaluation.sampling import stratified_sample
from refute.orchestration.evaluation.scoring import Flag
from refute.orchestration.store.journal import Journal
from refute.orchestration.model import CallRequest, CallResult, Usage
from refute.server.cli import main


def cases(n_per: dict[str, tuple[int, int]]) -> list[Case]:
    out = []
    for category, (vulnerable, safe) in n_per.items():
        for i in range(vulnerable + safe):
            out.append(Case(f"{category}{i}", f"{category}/{i}.py", "1", i < vulnerable, category))
    return out


def test_sample_is_stratified_reproducible_and_covers_every_category():
    corpus = load_corpus(owasp_dir())
    one = stratified_sample(corpus.cases, 28, seed=5)
    assert one == stratified_sample(corpus.cases, 28, seed=5)  # same seed, same questions (journal replays)
    assert one != stratified_sample(corpus.cases, 28, seed=6)
    assert len(one) == 28 and len({c.category for c in one}) == 14
    by_cat = Counter(c.category for c in one)
    assert by_cat["weakrand"] > by_cat["cmdi"]  # proportional beyond the one-per-category floor
    # Every category given two or more places has both vulnerable and safe cases.
    for category, count in by_cat.items():
        if count >= 2:
            assert {c.vulnerable for c in one if c.category == category} == {True, False}


def test_sample_proportions_and_limits():
    pool = cases({"a": (50, 50), "b": (10, 30), "c": (1, 0)})
    sample = stratified_sample(pool, 14, seed=0)
    assert Counter(c.category for c in sample) == {"a": 9, "b": 4, "c": 1}
    assert stratified_sample(pool, 1000, seed=0) == pool
    with pytest.raises(ValueError):
        stratified_sample(pool, 0)


def test_collect_reads_raw_candidates_survivors_cost_and_failures(tmp_path):
    (tmp_path / "a.py").write_text("import os\nos.system(cmd)\nprint(1)\n")
    journal = Journal(tmp_path / "state")
    finder = CallRequest(prompt="find in a.py", model="claude-sonnet-4-5", role="finder", label="security:find a.py")
    refuter = CallRequest(prompt="refute", model="claude-haiku-4-5", role="refuter", label="refute 1/2 a.py")
    threat = CallRequest(prompt="threat model", model="claude-sonnet-4-5", role="default")
    answer = {"findings": [
        {"path": "a.py", "quote": "os.system(cmd)", "cwe": "CWE-78"},
        {"path": "a.py", "quote": "eval(x)", "cwe": "CWE-94"},  # invented: no lines, still a raw candidate
    ]}
    journal.record(finder, CallResult(text="", data=answer, usage=Usage(100, 20), cost_usd=0.5), run_id="r", key="kf")
    journal.record(refuter, CallResult(text="", data={"verdict": "confirmed"}, usage=Usage(50, 10), cost_usd=0.1),
                   run_id="r", key="kr")
    journal.record(threat, CallResult(text="tm", usage=Usage(10, 5), cost_usd=0.05), run_id="r", key="kt")
    events = [
        {"type": "call_finished", "key": "kt"}, {"type": "call_finished", "key": "kf"},
        {"type": "call_finished", "key": "kf"},  # the same call seen twice counts once
        {"type": "call_finished", "key": "kr", "replayed": True, "cost_usd": 0.0},  # replayed: the recorded cost counts
        {"type": "call_failed", "key": "kx", "label": "refute 2/2 a.py"},
        {"type": "finding_dropped", "reason": "quote not found in a.py"},
        {"type": "finding", "finding": {"path": "a.py", "cwe": "CWE-78", "span": {"start_line": 1, "end_line": 1}}},
    ]
    evidence = collect(events, journal, tmp_path)
    journal.close()
    assert evidence.candidates == [Flag("a.py", "78", 2, 2), Flag("a.py", "94")]
    assert evidence.survivors == [Flag("a.py", "78", 2, 2)]
    assert (evidence.finding_spend.calls, evidence.finding_spend.tokens) == (2, 135)
    assert evidence.finding_spend.usd == pytest.approx(0.55)
    assert (evidence.verification_spend.calls, evidence.verification_spend.usd) == (1, pytest.approx(0.1))
    assert evidence.dropped == 1 and evidence.finder_answers == 1
    assert evidence.incomplete("a.py") and not evidence.incomplete("b.py")


def test_the_eval_workspace_never_holds_the_truth_and_never_lives_in_the_corpus(tmp_path):
    (tmp_path / "corpus" / "src").mkdir(parents=True)
    (tmp_path / "corpus" / "src" / "a.py").write_text("x = 1\n")
    (tmp_path / "corpus" / "truth.csv").write_text("path,cwe,vulnerable\nsrc/a.py,89,false\n")
    (tmp_path / "corpus" / "tool.sarif").write_text("{}")
    corpus = load_corpus(tmp_path / "corpus")
    work = prepare_workspace(corpus, tmp_path / "work")
    assert (work / "src" / "a.py").read_text() == "x = 1\n"
    assert not (work / "truth.csv").exists() and not (work / "tool.sarif").exists()
    with pytest.raises(ValueError, match="inside the corpus"):
        prepare_workspace(corpus, tmp_path / "corpus" / "src" / "eval")
    # A user's own repository as the corpus: its .refute/ (refute's state, never copied) may hold the copy.
    inside = prepare_workspace(corpus, tmp_path / "corpus" / ".refute" / "eval" / "x")
    assert (inside / "src" / "a.py").is_file() and not (inside / ".refute" / "eval").exists()


def test_the_provider_option_reaches_the_engine(tmp_path, capsys, monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "REFUTE_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    code = main(["eval", str(owasp_dir()), "--workspace", str(tmp_path), "--sample", "2", "--provider", "anthropic"])
    assert code == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err  # the anthropic provider was asked, and said what to set


def test_a_workspace_workflow_is_evaluated_as_it_is(tmp_path, capsys):
    folder = tmp_path / ".refute" / "workflows"
    folder.mkdir(parents=True)
    (folder / "mine.py").write_text(
        'meta = {"name": "mine", "description": "d", "phases": [], "args": {}}\n\n'
        'def main(args):\n    return {"units": len(units())}\n')
    auditor = Path(__file__).with_name("scripted_auditor.py")
    code = main(["eval", str(owasp_dir()), "--workspace", str(tmp_path), "--sample", "3", "--workflow", "mine",
                 "--provider", "scripted", "--scripted-fixture", f"{auditor}:answer", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    data = json.loads(out.out)
    assert data["workflow"] == "mine" and data["run"]["status"] == "completed" and data["run"]["calls_done"] == 0
    assert data["before"]["overall"]["tp"] == 0 and data["sample"]["cases"] == 3
    work = Path(data["workdir"])
    assert (work / ".refute" / "workflows" / "mine.py").read_text() == (folder / "mine.py").read_text()
