"""Two `refute run audit` at once in one workspace pay no call twice (issue 10: before
call leases, 134 of 153 calls were paid twice). The provider counts each call when it
arrives; both runs complete, and every call was asked of the provider exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

REFUTE = str(Path(sys.executable).with_name("refute"))
FILES = 12

PROVIDER = '''
import time
from pathlib import Path

LOG = Path(__file__).with_name("calls.log")


def answer(request):
    with open(LOG, "a") as fh:
        fh.write(request["prompt"].replace("\\n", " ")[:300] + "\\n")
    time.sleep(0.25)
    return {"findings": []}
'''


def test_two_concurrent_runs_pay_each_call_once(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    for i in range(FILES):
        (ws / f"mod_{i:02d}.py").write_text(f"def f_{i}(x):\n    return x + {i}\n")
    provider = tmp_path / "counting_provider.py"
    provider.write_text(PROVIDER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUTE_")}
    argv = [REFUTE, "run", "audit", "--provider", "scripted", "--scripted-fixture", f"{provider}:answer",
            "--max-concurrency", "3", "--json"]
    first = subprocess.Popen(argv, cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(argv, cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outs = [p.communicate(timeout=120) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outs
    infos = [json.loads(out) for out, _ in outs]
    calls = Counter((tmp_path / "calls.log").read_text().splitlines())
    assert len(calls) == FILES, calls
    paid_twice = {prompt: n for prompt, n in calls.items() if n > 1}
    assert paid_twice == {}, f"{len(paid_twice)} of {FILES} calls were paid twice"
    # Every call of each run finished: paid by it, or replayed from the other's result.
    assert all(info["calls_done"] == FILES for info in infos), infos
    assert sum(info["calls_replayed"] for info in infos) == FILES
