"""`refute eval` end to end: a stratified sample of OWASP Benchmark Python run through the
real Engine (worker process, tree-sitter units, journal) with the bundled security
workflow and a scripted auditor (tests/unit/evaluation/scripted_auditor.py; labelled
scripted, not a model). Its numbers are whatever that crude auditor earns; what the test
asserts is that the harness reports exactly what the finders and the refuters said,
case by case, before and after verification, and that a second run replays every call."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from eval_helpers import owasp_dir
from refute.orchestration.evaluation.corpus import load_corpus
from refute.orchestration.evaluation.sampling import stratified_sample
from refute.server.cli import main

import scripted_auditor

AUDITOR = Path(scripted_auditor.__file__).resolve()
SAMPLE, SEED = 28, 1


def run_eval(workspace: Path, *extra: str) -> tuple[int, dict]:
    out_json = workspace / "eval.json"
    code = main(["eval", str(owasp_dir()), "--workspace", str(workspace), "--sample", str(SAMPLE), "--seed", str(SEED),
                 "--provider", "scripted", "--scripted-fixture", f"{AUDITOR}:answer", "-o", str(out_json), *extra])
    return code, json.loads(out_json.read_text())


def expected_outcomes(corpus_root: Path, cases) -> dict[str, tuple[str, str]]:
    """What the scripted auditor's answers must score, computed from the files directly."""
    out = {}
    for case in cases:
        text = (corpus_root / case.path).read_text("utf-8")
        cwe = f"CWE-{case.cwe}"
        before = any(c["cwe"] == cwe for c in scripted_auditor.candidates_in(case.path, text))
        after = before and not scripted_auditor.defended(text, cwe)

        def outcome(flagged: bool) -> str:
            return ("TP" if flagged else "FN") if case.vulnerable else ("FP" if flagged else "TN")

        out[case.id] = (outcome(before), outcome(after))
    return out


@pytest.fixture(scope="module")
def first_and_second(tmp_path_factory):
    """Run the same eval twice in one workspace (module-scoped: about 5 s each)."""
    workspace = tmp_path_factory.mktemp("evalws")
    first = run_eval(workspace, "--plot", str(workspace / "eval.svg"))
    second = run_eval(workspace)
    return workspace, first, second


def test_a_stratified_sample_is_scored_before_and_after_verification(first_and_second):
    workspace, (code, result), _ = first_and_second
    assert code == 0, result["run"]
    corpus = load_corpus(owasp_dir())
    cases = stratified_sample(corpus.cases, SAMPLE, SEED)
    assert result["sample"]["cases"] == SAMPLE and len(result["sample"]["by_category"]) == 14
    assert result["provider"] == "scripted"
    # Case by case, exactly what the auditor's finders and refuters said.
    got = {c["id"]: (c["before"], c["after"]) for c in result["cases"]}
    assert got == expected_outcomes(corpus.root, cases)
    before, after = result["before"]["overall"], result["after"]["overall"]
    for score in (before, after):
        assert score["tp"] + score["fp"] + score["fn"] + score["tn"] == SAMPLE
        assert score["score"] == pytest.approx(score["tpr"] - score["fpr"], abs=1e-3)
    # Verification only removes: never a new true or false positive.
    assert after["tp"] <= before["tp"] and after["fp"] <= before["fp"]
    assert after["fp"] < before["fp"]  # this auditor's refuters do catch some (weakrand with secrets.)
    # Per category rows add up to the overall.
    assert sum(r["tp"] for r in result["after"]["by_category"].values()) == after["tp"]
    # Cost: every call is accounted for, and per true positive is total / TP.
    cost = result["cost"]
    assert cost["finding"]["calls"] + cost["verification"]["calls"] == result["run"]["calls_done"]
    assert cost["verification"]["calls"] >= 2 * result["survivors"]  # two blind refuters at least per claim
    if after["tp"]:
        assert cost["per_true_positive_after"]["usd"] == pytest.approx(cost["total"]["usd"] / after["tp"], rel=1e-3)
    # Bandit's shipped SARIF is scored on the same cases beside it.
    assert [c["tool"] for c in result["comparisons"]] == ["Bandit"]
    assert result["comparisons"][0]["overall"]["cases"] == SAMPLE
    # The truth and other tools' results never reached the eval workspace the agents read.
    workdir = Path(result["workdir"])
    assert (workdir / "testcode").is_dir()
    assert not (workdir / "expectedresults-0.1.csv").exists() and not (workdir / "results").exists()


def test_the_plot_file_is_an_svg_with_both_panels(first_and_second):
    workspace, _, _ = first_and_second
    root = ET.parse(workspace / "eval.svg").getroot()
    assert root.tag.endswith("svg")
    texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "TPR and FPR per category" in texts and "precision vs recall" in texts
    assert "weakrand" in texts and "Bandit" in texts
    assert "scripted (deterministic test answers, not a real model)" in texts


def test_running_it_again_replays_every_call_at_no_cost(first_and_second):
    _, (_, first), (code, second) = first_and_second
    assert code == 0
    assert second["run"]["id"] != first["run"]["id"]
    assert second["run"]["calls_replayed"] == second["run"]["calls_done"] == first["run"]["calls_done"]
    assert second["cost"]["paid_this_run"]["usd"] == 0
    assert second["cost"]["total"]["usd"] == pytest.approx(first["cost"]["total"]["usd"])  # as recorded when paid
    assert [c["after"] for c in second["cases"]] == [c["after"] for c in first["cases"]]


def test_plan_only_shows_the_estimate_and_runs_nothing(tmp_path, capsys):
    code = main(["eval", str(owasp_dir()), "--workspace", str(tmp_path), "--sample", "14", "--plan-only", "--json",
                 "--provider", "scripted", "--scripted-fixture", f"{AUDITOR}:answer"])
    out = capsys.readouterr()
    assert code == 0
    data = json.loads(out.out)
    assert data["plan"]["units"] == 14 and data["plan"]["calls"] == 15  # threat model + one finder per file
    assert "plan (an estimate, no model called)" in out.err
    assert not list((Path(data["workdir"]) / ".refute" / "state").glob("runs/*/run.json"))


@pytest.mark.parametrize("argv, message", [
    (["--sample", "0"], "--sample 0"),
    (["--sarif", "missing.sarif"], "--sarif missing.sarif: no such file"),
    (["--plot", "out.png"], "--plot out.png"),
    (["--workflow", "nope"], "--workflow: no workflow named 'nope'"),
    (["--budget-usd", "-1"], "argument --budget-usd: expected a finite number above 0"),  # the one budget rule
])
def test_bad_input_exits_2_naming_the_option(tmp_path, capsys, argv, message):
    code = main(["eval", str(owasp_dir()), "--workspace", str(tmp_path), *argv])
    assert code == 2
    assert message in capsys.readouterr().err


def test_sarif_mode_scores_without_a_model(tmp_path, capsys):
    sarif = owasp_dir() / "results" / "BenchmarkPython-Bandit.sarif"
    code = main(["eval", str(owasp_dir()), "--sarif", str(sarif), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    overall = data["comparisons"][0]["overall"]
    assert (overall["tpr"], overall["fpr"]) == (pytest.approx(0.249, abs=1e-3), pytest.approx(0.060, abs=1e-3))
    code = main(["eval", str(owasp_dir()), "--sarif", str(sarif)])
    table = capsys.readouterr().out
    assert "weakrand" in table and "overall           1243 |  114   47  343  739" in table


def test_refutes_own_sarif_of_the_run_scores_the_same_as_after_verification(first_and_second, tmp_path, capsys):
    """The SARIF reader agrees with the harness on refute's own SARIF (rule refute/security/CWE-N)."""
    from refute.orchestration.engine import Engine

    _, (_, result), _ = first_and_second
    engine = Engine(Path(result["workdir"]))
    try:
        sarif = engine.report(result["run"]["id"], "sarif")
    finally:
        engine.close()
    path = tmp_path / "refute.sarif"
    path.write_text(sarif)
    code = main(["eval", str(owasp_dir()), "--sarif", str(path), "--sample", str(SAMPLE), "--seed", str(SEED), "--json"])
    assert code == 0
    scored = json.loads(capsys.readouterr().out)["comparisons"][0]
    assert scored["tool"] == "refute"
    assert scored["overall"] == result["after"]["overall"]
    assert scored["by_category"] == result["after"]["by_category"]
