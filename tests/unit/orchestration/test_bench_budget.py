"""bench/budget.py at a small size: a scripted audit of a stdlib package stopped by token
and dollar budgets (50%); each held, most of it was spent, and the resume paid no call twice."""

from __future__ import annotations

import json
import sysconfig
from pathlib import Path


def test_budget_bench_small(capsys, load_bench):
    bench = load_bench("budget")
    package = Path(sysconfig.get_paths()["stdlib"]) / "email"
    code = bench.main(["--package", str(package), "--shares", "0.5", "--json"])
    result = json.loads(capsys.readouterr().out)  # one JSON object
    assert code == 0 and result["ok"], result
    assert result["units"] >= 100 and [r["budget"] for r in result["rows"]] == ["tokens", "usd"]
    for row in result["rows"]:
        assert row["within"] and row["status"] == "budget_reached" and row["spent_share"] >= 0.85
        assert row["resume_status"] == "completed" and row["paid_twice"] == 0 and row["all_calls_paid_once"]
