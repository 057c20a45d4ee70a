"""bench/scale.py, fast variant: a real venv package (jsonschema, 24 source files), runs of
100 paid calls, scripted finders at 0.5 and 4 candidates per unit."""

from __future__ import annotations

import json

import pytest



@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("scale")


def test_runs_complete_reach_full_coverage_as_planned_and_the_plan_is_within_25_percent(bench, tmp_path):
    rows = bench.run_bench(["jsonschema"], [0.5, 4.0], max_files=None, max_calls=100, workdir=tmp_path)
    for row in rows:
        assert row["all_completed"] and row["failed_calls"] == 0, row  # no run fails at the cap
        assert row["max_paid_per_run"] <= 100
        assert row["coverage"] == 1.0
        assert row["runs"] <= row["runs_predicted"], row  # 100% after the runs the plan predicted
        assert 0.75 <= row["calls_ratio"] <= 1.25 and 0.75 <= row["tokens_ratio"] <= 1.25, row
        assert row["calls_per_kloc"] > 0 and row["usd_per_kloc"] > 0 and 0 <= row["cache_read_share"] < 1
    assert rows[1]["runs"] > rows[0]["runs"]  # four candidates per unit need more runs than one in two
    text = bench.format_table(rows)
    assert "jsonschema" in text and "plan/act" in text


def test_json_is_one_object_with_the_same_figures(bench, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "run_bench", lambda *a, **k: [{"corpus": "x", "rate": 1.0, "all_completed": True,
                                                                 "coverage": 1.0}])
    assert bench.main(["--json", "--corpora", "jsonschema", "--rates", "1"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and json.loads(out)["rows"][0]["corpus"] == "x"
