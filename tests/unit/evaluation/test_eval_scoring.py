"""Scoring against truth: Bandit's shipped SARIF on OWASP Benchmark Python reproduces
FACTS.md's figures, the per-category table, and the generic truth format's rules
(line-level truth, several CWEs per file, clear errors for bad truth)."""

from __future__ import annotations

import json

import pytest

from refute.orchestration.evaluation.corpus import CorpusError, load_corpus, parse_lines
from refute.orchestration.evaluation.sarif_input import SarifError, read_sarif
from refute.orchestration.evaluation.scoring import Flag, score

from eval_helpers import owasp_dir


@pytest.fixture(scope="module")
def owasp():
    return load_corpus(owasp_dir())


def test_owasp_reader_reads_every_case(owasp):
    assert owasp.kind == "owasp-benchmark-python"
    assert len(owasp.cases) == 1243
    assert sum(c.vulnerable for c in owasp.cases) == 457
    assert len(owasp.categories) == 14
    assert {c.cwe for c in owasp.cases if c.category == "sqli"} == {"89"}
    # The truth and other tools' results never go into an eval workspace.
    assert "expectedresults-0.1.csv" in owasp.hidden
    assert "results/BenchmarkPython-Bandit.sarif" in owasp.hidden


def test_bandit_sarif_scores_as_facts_md_says(owasp):
    flags, tool = read_sarif(owasp.root / "results" / "BenchmarkPython-Bandit.sarif", owasp.root)
    assert tool == "Bandit"
    result = score(owasp.cases, flags)
    overall = result.overall
    assert (overall["tp"], overall["fp"], overall["fn"], overall["tn"]) == (114, 47, 343, 739)
    assert overall["tpr"] == pytest.approx(0.249, abs=0.001)
    assert overall["fpr"] == pytest.approx(0.060, abs=0.001)
    assert overall["score"] == pytest.approx(0.19, abs=0.001)
    assert overall["precision"] == pytest.approx(0.71, abs=0.005)
    table = {name: (row["tp"], row["fp"], row["fn"], row["tn"]) for name, row in result.by_category.items()}
    # The per-category table, computed from the shipped SARIF with OWASP's rule.
    assert table == EXPECTED_BANDIT_TABLE
    assert sum(sum(v) for v in table.values()) == 1243


# (TP, FP, FN, TN) per category. Bandit flags every cmdi and sqli case (its subprocess
# import and SQL-string rules fire on safe look-alikes too), and catches weakrand without
# a false alarm; it has no rule for most other categories.
EXPECTED_BANDIT_TABLE = {
    "cmdi": (10, 12, 0, 0), "codeinj": (0, 0, 14, 47), "deserialization": (10, 12, 7, 26), "hash": (0, 0, 76, 80),
    "ldapi": (0, 0, 12, 9), "pathtraver": (0, 0, 55, 101), "redirect": (0, 0, 16, 26),
    "securecookie": (0, 0, 17, 20), "sqli": (11, 23, 0, 0), "trustbound": (0, 0, 24, 9),
    "weakrand": (83, 0, 21, 217), "xpathi": (0, 0, 52, 128), "xss": (0, 0, 45, 55), "xxe": (0, 0, 4, 21),
}


def test_generic_format_with_line_level_truth(tmp_path):
    (tmp_path / "app.py").write_text("a\nb\nc\nd\ne\n")
    (tmp_path / "lib.py").write_text("x\n")
    (tmp_path / "truth.csv").write_text(
        "path,cwe,vulnerable,category,lines\n"
        "app.py,CWE-89,true,sqli,2\n"
        "app.py,89,false,sqli,4-5\n"
        "app.py,CWE-79,true,,\n"
        "lib.py,78,no,cmdi,\n")
    corpus = load_corpus(tmp_path)
    assert corpus.kind == "generic" and len(corpus.cases) == 4
    assert "truth.csv" in corpus.hidden
    flags = [Flag.make("app.py", "CWE-89", 2, 2),  # the vulnerable line: TP
             Flag.make("app.py", "CWE-89", 3),  # between the two: flags neither case
             Flag.make("lib.py", "CWE-78", 1)]  # the safe file: FP
    result = score(corpus.cases, flags)
    outcomes = {c.case.id: c.outcome for c in result.cases}
    assert outcomes == {"app.py#CWE-89@2": "TP", "app.py#CWE-89@4-5": "TN", "app.py#CWE-79": "FN",
                        "lib.py#CWE-78": "FP"}
    assert result.unmatched == 1
    assert result.by_category["CWE-79"]["fn"] == 1  # no category: the CWE is the category
    # A flag over the safe lines turns that case into a false positive.
    again = score(corpus.cases, flags + [Flag.make("app.py", "89", 5)])
    assert again.outcome_of("app.py#CWE-89@4-5") == "FP"


@pytest.mark.parametrize("row, message", [
    ("app.py,CWE-89,maybe,,", "vulnerable 'maybe'"),
    ("app.py,none,true,,", "cwe 'none'"),
    ("../etc/passwd,89,true,,", "without '..'"),
    ("missing.py,89,true,,", "missing.py is not a file"),
    ("app.py,89,true,,3-1", "start <= end"),
])
def test_bad_truth_rows_name_the_line(tmp_path, row, message):
    (tmp_path / "app.py").write_text("a\n")
    (tmp_path / "truth.csv").write_text("path,cwe,vulnerable,category,lines\n" + row + "\n")
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path)
    assert "truth.csv:2" in str(info.value) and message in str(info.value)


def test_no_truth_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="no truth found"):
        load_corpus(tmp_path)


def test_parse_lines():
    assert parse_lines("3;12-14") == ((3, 3), (12, 14))
    assert parse_lines("") == ()


def test_sarif_cwe_from_result_rule_and_rule_id(tmp_path):
    sarif = {"version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "t", "rules": [
            {"id": "R1", "properties": {"tags": ["external/cwe/cwe-22"]}},
            {"id": "R2", "relationships": [{"target": {"id": "CWE-78", "toolComponent": {"name": "CWE"}}}]}]}},
        "results": [
            {"ruleId": "R1", "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a.py"},
                                                                 "region": {"startLine": 3}}}]},
            {"ruleId": "R2", "locations": [{"physicalLocation": {"artifactLocation": {
                "uri": (tmp_path / "b.py").as_uri()}}}]},
            {"ruleId": "refute/security/CWE-89", "properties": {"cwe": "CWE-564"},
             "locations": [{"physicalLocation": {"artifactLocation": {"uri": "./c.py"}}}]},
            {"ruleId": "nocwe", "locations": [{"physicalLocation": {"artifactLocation": {"uri": "d.py"}}}]},
        ]}]}
    path = tmp_path / "x.sarif"
    path.write_text(json.dumps(sarif))
    flags, tool = read_sarif(path, tmp_path)
    assert set(flags) == {Flag("a.py", "22", 3, 3), Flag("b.py", "78"), Flag("c.py", "89"), Flag("c.py", "564"),
                          Flag("d.py", None)}
    (tmp_path / "bad.sarif").write_text("{}")
    with pytest.raises(SarifError, match="no 'runs'"):
        read_sarif(tmp_path / "bad.sarif", tmp_path)
