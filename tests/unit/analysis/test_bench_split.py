"""bench/split.py keeps working (a smoke run on a few files; its numbers are not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "split.py"


def test_bench_runs_and_reports_full_coverage():
    proc = subprocess.run([sys.executable, str(BENCH), "--limit", "25", "--max-unit-tokens", "300", "--no-compare"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "coverage (non-whitespace): 100.00%  (25/25 files exact)" in proc.stdout
    assert "over limit: 0" in proc.stdout and "x parse-only" in proc.stdout
    assert "astchunk: not compared" in proc.stdout
