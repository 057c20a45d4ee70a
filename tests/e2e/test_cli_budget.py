"""`refute run` with a budget that runs out ends "budget_reached" (exit 5, not a failure);
`refute resume RUN --budget-tokens N` continues it with 0 calls paid twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

REFUTE = str(Path(sys.executable).with_name("refute"))

WORKFLOW = '''
meta = {"name": "many", "description": "twenty calls", "phases": [], "args": {}}


def main(args):
    return parallel([lambda i=i: agent("question %d" % i, max_tokens=1000) for i in range(20)])
'''

PROVIDER = '''
from pathlib import Path

LOG = Path(__file__).with_name("calls.log")


def answer(request):
    with open(LOG, "a") as fh:
        fh.write(request["prompt"] + "\\n")
    return "answer to " + request["prompt"] + " " + "word " * 400  # about 500 tokens
'''


def test_budget_reached_then_resume_with_a_larger_budget(tmp_path):
    ws = tmp_path / "ws"
    (ws / ".refute" / "workflows").mkdir(parents=True)
    (ws / ".refute" / "workflows" / "many.py").write_text(WORKFLOW)
    (tmp_path / "p.py").write_text(PROVIDER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUTE_")}
    common = ["--provider", "scripted", "--scripted-fixture", f"{tmp_path / 'p.py'}:answer", "--max-concurrency", "4"]

    first = subprocess.run([REFUTE, "run", "many", *common, "--budget-tokens", "3000", "--json"], cwd=ws, env=env,
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 5, first.stderr
    info = json.loads(first.stdout)
    assert info["status"] == "budget_reached" and "refute resume" in info["error"]
    assert sum(info["usage"].values()) <= 3000
    sent_before = Counter((tmp_path / "calls.log").read_text().splitlines())
    assert 0 < len(sent_before) < 20

    bad = subprocess.run([REFUTE, "resume", info["id"], *common, "--budget-tokens", "-5"], cwd=ws, env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--budget-tokens" in bad.stderr

    second = subprocess.run([REFUTE, "resume", info["id"], *common, "--budget-tokens", "100000", "--json"], cwd=ws,
                            env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    done = json.loads(second.stdout)
    assert done["status"] == "completed" and len(done["result"]) == 20 and None not in done["result"]
    assert done["budget"]["tokens"] == 100000
    sent = Counter((tmp_path / "calls.log").read_text().splitlines())
    assert set(sent) == {f"question {i}" for i in range(20)} and max(sent.values()) == 1  # 0 paid twice
