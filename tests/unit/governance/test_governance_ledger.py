"""The spend ledger: per-user totals per day and month, the daily cap held across runs
and workspaces (live reservations count), and a dead driver's run counted by what its
run.json says it spent."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from refute.orchestration.governance.ledger import CapReached, SpendLedger, day_of


def test_settle_records_deltas_per_day_and_month(tmp_path):
    ledger = SpendLedger(tmp_path, user="alice")
    t = time.time()
    ledger.reserve("r1", tmp_path / "ws1", 2.0, cap=None)
    assert ledger.settle("r1", tmp_path / "ws1", "audit", 0.5, 1000, now=t) == 0.5
    ledger.reserve("r1", tmp_path / "ws1", 1.5, cap=None)  # resumed
    assert ledger.settle("r1", tmp_path / "ws1", "audit", 0.75, 1500, now=t) == 0.25  # only what is new
    summary = ledger.summary()
    assert summary["days"][day_of(t)] == {"usd": 0.75, "tokens": 1500, "runs": 2}
    assert summary["months"][day_of(t)[:7]]["usd"] == 0.75
    assert summary["open_reservations"] == []
    assert ledger.spent_today(t) == 0.75


def test_daily_cap_holds_across_workspaces_and_live_runs(tmp_path):
    ledger = SpendLedger(tmp_path, user="bob")
    # A live run in another workspace reserves $3 of a $5 cap: the next run gets at most $2.
    assert ledger.reserve("a", tmp_path / "ws1", 3.0, cap=5.0) == 3.0
    assert ledger.reserve("b", tmp_path / "ws2", None, cap=5.0) == 2.0
    with pytest.raises(CapReached, match=r"daily cap \$5"):
        ledger.reserve("c", tmp_path / "ws3", 1.0, cap=5.0)
    # Run a ends having spent $1: its unused $2 comes back.
    ledger.settle("a", tmp_path / "ws1", "audit", 1.0, 10)
    assert ledger.reserve("c", tmp_path / "ws3", 10.0, cap=5.0) == pytest.approx(2.0)


def test_a_reservation_of_a_dead_driver_counts_what_its_run_spent(tmp_path):
    ledger = SpendLedger(tmp_path / "ledger", user="carol")
    ws = tmp_path / "ws"
    run_dir = ws / ".refute" / "state" / "runs" / "r9"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"cost_usd": 0.4}))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ledger.reserve("r9", ws, 3.0, cap=None)
    records = ledger.records()
    records[-1]["pid"] = int(dead.stdout)  # as if the process that reserved it died by kill -9
    ledger.path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert ledger.spent_today() == pytest.approx(0.4)
    ledger.path.write_text(ledger.path.read_text() + '{"kind": "spe')  # a torn last line is skipped
    assert ledger.spent_today() == pytest.approx(0.4)


def test_a_resumed_runs_earlier_spend_counts_and_settling_the_old_launch_keeps_the_new_reservation(tmp_path):
    ledger = SpendLedger(tmp_path, user="dan")
    ledger.reserve("r", tmp_path, 1.0, cap=3.0, token="r#1")
    ledger.settle("r", tmp_path, "audit", 2.0, 10, token="r#1")  # it spent $2 of today's $3
    assert ledger.reserve("r", tmp_path, None, cap=3.0, token="r#2") == pytest.approx(1.0), "its $2 still counts"
    ledger.settle("r", tmp_path, "audit", 2.0, 10, token="r#1")  # a late settle of the first launch
    assert [r["usd"] for r in ledger.summary()["open_reservations"]] == [pytest.approx(1.0)]


def test_an_unlimited_live_reservation_counts_nothing_and_breaks_nothing(tmp_path):
    ledger = SpendLedger(tmp_path, user="erin")
    ledger.reserve("open-ended", tmp_path, None, cap=None)
    assert ledger.spent_today() == 0.0
    assert ledger.summary()["open_reservations"][0]["usd"] is None


def test_the_audit_record_lists_files_an_agents_tools_read():
    """A call's paths_sent: the unit's file the run put in it, then what its tools read
    (the scheduler's call_finished carries `reads`); a replay sent nothing."""
    from refute.orchestration.governance.record import _calls

    events = [
        {"type": "call_paths", "key": "k1", "paths": ["app.py"]},
        {"type": "call_started", "key": "k1", "ts": 1.0},
        {"type": "call_finished", "key": "k1", "ts": 2.0, "usage": {}, "reads": ["lib/util.py", "app.py"]},
        {"type": "call_finished", "key": "k2", "ts": 3.0, "usage": {}, "replayed": True, "reads": ["x.py"]},
    ]
    calls = _calls(events)
    assert calls[0]["paths_sent"] == ["app.py", "lib/util.py"]
    assert calls[1]["paths_sent"] == []
