"""bench/verify.py: scripted finders at precision 0.5 and 85%-right blind refuters.

Verification must lift precision to >= 0.85 while losing <= 10 points of recall, both
with verify.py called directly and with the bundled audit workflow run by the engine's
run driver (sandbox, scheduler, journal, scripted provider).
"""

from __future__ import annotations

import json

import pytest



@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("verify")


def check_targets(result):
    assert result["precision_before"] == pytest.approx(0.5, abs=0.02)
    assert result["precision_after"] >= 0.85, result
    assert result["recall_before"] - result["recall_after"] <= 0.10, result


def test_direct_on_200_units(bench):
    result = bench.run_direct(200, seed=7)
    check_targets(result)
    assert 2.0 <= result["refuter_calls"] / result["candidates"] <= 2.5  # a third refuter only on splits
    assert 2.0 < result["token_ratio"] < 3.0


def test_large_corpus_matches_the_math_in_verify_py(bench):
    result = bench.run_direct(2000, seed=3)
    check_targets(result)
    # verify.py's docstring: 6.1% of true findings lost, precision 0.939, 2.255 calls per claim.
    assert result["recall_after"] / result["recall_before"] == pytest.approx(0.939, abs=0.03)
    assert result["precision_after"] == pytest.approx(0.939, abs=0.03)
    assert result["refuter_calls"] / result["candidates"] == pytest.approx(2.255, abs=0.05)


def test_the_simpler_rules_each_miss_a_target(bench):
    unanimous = bench.run_direct(2000, seed=3, rule="unanimous")
    any_one = bench.run_direct(2000, seed=3, rule="any")
    assert unanimous["recall_before"] - unanimous["recall_after"] > 0.10
    assert any_one["precision_after"] < 0.85


def test_through_the_engine_with_the_bundled_audit_workflow(bench, tmp_path):
    result = bench.run_engine(tmp_path / "ws", 200, seed=7)
    check_targets(result)
    assert result["tokens_verified"] > result["tokens_unverified"] > 0
    text = bench.format_result(result)
    assert "precision  before 0.500" in text and "ratio" in text


def test_through_engine_start_in_a_worker_process(bench, tmp_path):
    result = bench.run_full_engine(tmp_path / "ws", 200, seed=7)
    check_targets(result)
    assert result["reported"] > 0 and result["token_ratio"] > 1.5


def test_correlated_errors_shrink_what_voting_adds(bench):
    rows = bench.correlation_rows(2000, seed=3, correlations=(0.0, 0.3, 0.6))
    for row in rows:
        # Each refuter alone stays right 85% of the time whatever rho: one refuter keeps ~15% of false claims.
        assert row["single_false_survival"] == pytest.approx(0.15, abs=0.03)
        assert row["vote_false_survival"] == pytest.approx(row["expected_vote_false_survival"], abs=0.03)
        assert row["vote_precision"] > row["single_precision"]
    gains = [row["vote_gain_precision"] for row in rows]
    assert gains[0] > gains[1] > gains[2] > 0, gains  # voting helps less as the blind spot is shared
    survival = [row["vote_false_survival"] for row in rows]
    assert survival[0] < survival[1] < survival[2]


def test_json_prints_one_object_with_the_same_figures(bench, capsys):
    assert bench.main(["--json", "--units", "20", "--correlation-units", "200", "--correlations", "0,0.6"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["correlation"] for r in data["correlated_errors"]] == [0.0, 0.6]
    assert {r["mode"].split(",")[0] for r in data["runs"]} >= {"direct"}
    assert len(data["runs"]) == len(bench.RULES) + 2
