"""Kill `refute run` with SIGKILL part-way, then `refute resume RUN`: no finished call is
sent to the provider again, every finding is there, and the run completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REFUTE = str(Path(sys.executable).with_name("refute"))
N = 12

WORKFLOW = '''
meta = {"name": "resumable", "description": "one finding per line", "phases": ["find"], "args": {"n": 12}}

SCHEMA = {"type": "object", "required": ["path", "quote", "title", "explanation", "severity", "category"]}


def main(args):
    phase("find")

    def one(i):
        answer = agent("check line %d" % i, schema=SCHEMA, label="line %d" % i)
        return report(answer)

    found = parallel([lambda i=i: one(i) for i in range(args["n"])])
    return len([f for f in found if f])
'''

PROVIDER = '''
import time
from pathlib import Path

LOG = Path(__file__).with_name("calls.log")


def answer(request):
    with open(LOG, "a") as fh:  # counted at the provider, when the call arrives
        fh.write(request["prompt"] + "\\n")
    time.sleep(0.4)
    i = int(request["prompt"].split()[-1])
    return {"path": "code.py", "quote": "value_%d = %d / 0" % (i, i), "title": "Division by zero %d" % i,
            "explanation": "always raises ZeroDivisionError", "severity": "error", "category": "bug"}
'''


def _events(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def test_sigkill_then_resume_sends_no_finished_call_again(tmp_path):
    ws = tmp_path / "ws"
    (ws / ".refute" / "workflows").mkdir(parents=True)
    (ws / ".refute" / "workflows" / "resumable.py").write_text(WORKFLOW)
    (ws / "code.py").write_text("".join(f"value_{i} = {i} / 0\n" for i in range(N)))
    provider = tmp_path / "counting_provider.py"
    provider.write_text(PROVIDER)
    log = tmp_path / "calls.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUTE_")}
    env["REFUTE_LEDGER_DIR"] = str(tmp_path / "ledger")  # the per-user spend ledger stays out of $HOME
    common = ["--provider", "scripted", "--scripted-fixture", f"{provider}:answer", "--max-concurrency", "2"]

    proc = subprocess.Popen([REFUTE, "run", "resumable", "--yes", *common], cwd=ws, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs_dir = ws / ".refute" / "state" / "runs"
    deadline = time.monotonic() + 30
    run_dir = None
    while time.monotonic() < deadline:
        dirs = list(runs_dir.glob("*")) if runs_dir.exists() else []
        if dirs:
            run_dir = dirs[0]
            if sum(1 for e in _events(run_dir) if e["type"] == "call_finished") >= 4:
                break
        time.sleep(0.05)
    assert run_dir is not None, proc.communicate(timeout=5)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    events = _events(run_dir)
    finished_before = {e["label"] for e in events if e["type"] == "call_finished"}
    assert 4 <= len(finished_before) < N  # killed part-way
    worker_pid = next(e["worker_pid"] for e in events if e["type"] == "run_status" and "worker_pid" in e)
    deadline = time.monotonic() + 5
    while Path(f"/proc/{worker_pid}").exists() and time.monotonic() < deadline:
        # a zombie is gone for our purposes: it can make no more calls
        stat = Path(f"/proc/{worker_pid}/stat").read_text() if Path(f"/proc/{worker_pid}/stat").exists() else ""
        if ") Z " in stat:
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{worker_pid}").exists() or ") Z " in Path(f"/proc/{worker_pid}/stat").read_text(), \
        "the killed CLI left its worker running"
    stored = json.loads((run_dir / "run.json").read_text())
    assert stored["status"] == "running"  # nobody had the chance to say otherwise
    sent_before = Counter(log.read_text().splitlines())

    result = subprocess.run([REFUTE, "resume", run_dir.name, *common, "--json"], cwd=ws, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["status"] == "completed" and info["result"] == N

    sent = Counter(log.read_text().splitlines())
    for label in finished_before:
        prompt = "check " + label
        assert sent[prompt] == 1, f"{prompt} was sent again after it had finished"
    assert set(sent) == {f"check line {i}" for i in range(N)}
    assert sum(sent.values()) - sum(sent_before.values()) <= N - len(finished_before)
    assert info["calls_replayed"] >= len(finished_before)

    replayed = [e for e in _events(run_dir) if e["type"] == "call_finished" and e.get("replayed")]
    assert {e["label"] for e in replayed} >= finished_before
    assert all(e["cost_usd"] == 0 for e in replayed)

    # Usage is never under-counted: a call journaled just before the kill whose event was
    # lost is charged on resume (recovered), so the run counts every paid call once.
    from refute.orchestration.store.journal import Journal

    journal = Journal(ws / ".refute" / "state")
    try:
        paid = [journal._cache.get(k) for k in journal._cache.iterkeys() if str(k).startswith("call/")]
    finally:
        journal.close()
    paid_tokens = sum(sum(e["result"]["usage"].values()) for e in paid if e["run_id"] == run_dir.name)
    assert len(paid) == N and sum(info["usage"].values()) == paid_tokens

    from refute.orchestration.verification.findings import FindingsStore

    store = FindingsStore(ws, ws / ".refute" / "state")
    try:
        titles = {f.title for f in store.list(run_id=run_dir.name)}
    finally:
        store.close()
    assert titles == {f"Division by zero {i}" for i in range(N)}

    shown = subprocess.run([REFUTE, "show", run_dir.name, "--events"], cwd=ws, capture_output=True, text=True,
                           timeout=30)
    lines = [json.loads(line) for line in shown.stdout.splitlines()]
    assert lines[0]["type"] == "run_status" and lines[-1]["status"] == "completed"
    assert any(e.get("resumed") for e in lines if e["type"] == "run_status")


def test_cancel_and_pause_from_another_process(tmp_path):
    ws = tmp_path / "ws"
    (ws / ".refute" / "workflows").mkdir(parents=True)
    (ws / ".refute" / "workflows" / "spin.py").write_text(
        "meta = {'name': 'spin', 'description': 'spins', 'phases': [], 'args': {}}\n\n"
        "def main(args):\n    agent('warm up')\n    while True:\n        pass\n")
    (ws / "fx.json").write_text(json.dumps({"rules": [{"match": ".", "reply": "ok"}]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("REFUTE_")}
    env["REFUTE_LEDGER_DIR"] = str(tmp_path / "ledger")  # the per-user spend ledger stays out of $HOME
    runs_dir = ws / ".refute" / "state" / "runs"

    def start() -> tuple[subprocess.Popen, str]:
        before = set(runs_dir.glob("*")) if runs_dir.exists() else set()
        proc = subprocess.Popen([REFUTE, "run", "spin", "--yes", "--scripted-fixture", "fx.json"], cwd=ws, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            new = (set(runs_dir.glob("*")) if runs_dir.exists() else set()) - before
            if new and any(e["type"] == "call_finished" for e in _events(next(iter(new)))):
                return proc, next(iter(new)).name
            time.sleep(0.05)
        proc.kill()
        raise AssertionError("the run did not start")

    proc, run_id = start()
    t0 = time.monotonic()
    cancel = subprocess.run([REFUTE, "cancel", run_id], cwd=ws, env=env, capture_output=True, text=True, timeout=30)
    proc.wait(timeout=10)
    assert time.monotonic() - t0 < 4.0  # includes starting the `refute cancel` interpreter
    assert cancel.returncode == 0 and "cancelled" in cancel.stdout
    assert proc.returncode == 1  # a cancelled run exits non-zero

    proc, run_id = start()
    pause = subprocess.run([REFUTE, "pause", run_id], cwd=ws, env=env, capture_output=True, text=True, timeout=60)
    proc.wait(timeout=30)
    assert pause.returncode == 0 and "paused" in pause.stdout
    assert proc.returncode == 4
    assert json.loads((runs_dir / run_id / "run.json").read_text())["status"] == "paused"
