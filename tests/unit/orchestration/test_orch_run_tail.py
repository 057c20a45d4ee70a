"""RunLogTail: following runs another process drives, from their audit logs."""

import json
import multiprocessing
import os

from refute.orchestration.store.runs import RunStore
from refute.orchestration.store.run_tail import RunLogTail


def _hold_lock(lock_path, ready, release):
    import fcntl
    import socket
    import time

    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.ftruncate(fd, 0)  # as RunLock does
    os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode())
    ready.set()
    release.wait(20)


def _run(store: RunStore, run_id: str, status: str = "running") -> None:
    folder = store.dir(run_id)
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"id": run_id, "status": status}))


def _driver(store: RunStore, run_id: str):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    proc = multiprocessing.Process(target=_hold_lock, args=(str(store.dir(run_id) / "lock"), ready, release))
    proc.start()
    assert ready.wait(10)
    return proc, release


def _append(store: RunStore, run_id: str, text: str) -> None:
    with open(store.dir(run_id) / "events.jsonl", "a", encoding="utf-8") as fh:
        fh.write(text)


def test_follows_a_foreign_run_line_by_line_and_says_when_its_driver_died(tmp_path):
    store = RunStore(tmp_path)
    seen: list[dict] = []
    tail = RunLogTail(store, seen.append)
    _run(store, "r1")
    assert tail.poll() == 0 and tail.following() == []  # nobody drives it yet
    proc, release = _driver(store, "r1")
    try:
        _append(store, "r1", '{"type": "run_status", "run_id": "r1", "status": "running"}\n{"type": "call_fin')
        assert tail.poll() == 1 and tail.following() == ["r1"]  # the half-written line waits
        _append(store, "r1", 'ished", "run_id": "r1"}\nnot json\n')
        assert tail.poll() == 1 and seen[-1]["type"] == "call_finished"
    finally:
        release.set()
        proc.join(10)
    # kill -9 of the driver: no final status in the log, the lock is free.
    assert tail.poll() == 1
    assert seen[-1]["type"] == "run_status" and seen[-1]["status"] == "interrupted" and seen[-1]["synthetic"]
    assert tail.following() == []
    assert tail.poll() == 0


def test_ignores_its_own_and_finished_runs_and_resumes_a_parked_one(tmp_path):
    store = RunStore(tmp_path)
    seen: list[dict] = []
    _run(store, "mine")
    _run(store, "old", status="completed")
    _run(store, "r2")
    tail = RunLogTail(store, seen.append, is_local=lambda run_id: run_id == "mine")
    procs = [_driver(store, "mine"), _driver(store, "r2")]
    try:
        _append(store, "mine", '{"type": "progress"}\n')
        _append(store, "r2", '{"type": "run_status", "status": "paused"}\n')
        assert tail.poll() == 1 and seen == [{"type": "run_status", "status": "paused", "run_id": "r2"}]
    finally:
        for proc, release in procs:
            release.set()
            proc.join(10)
    (store.dir("r2") / "run.json").write_text(json.dumps({"id": "r2", "status": "running"}))
    proc, release = _driver(store, "r2")  # resumed by another process: followed from where it stopped
    try:
        _append(store, "r2", '{"type": "run_status", "status": "running"}\n{"type": "run_status", "status": "completed"}\n')
        assert tail.poll() == 2 and [e["status"] for e in seen] == ["paused", "running", "completed"]
    finally:
        release.set()
        proc.join(10)
    assert tail.poll() == 0 and tail.following() == []


def test_a_budget_reached_run_ends_as_budget_reached_not_interrupted(tmp_path):
    """budget_reached is a final status (RunStatus.finished): the tail must not turn it
    into a synthetic "interrupted" once its driver lets go (the CLI says budget_reached)."""
    store = RunStore(tmp_path)
    seen: list[dict] = []
    tail = RunLogTail(store, seen.append)
    _run(store, "r3")
    proc, release = _driver(store, "r3")
    try:
        _append(store, "r3", '{"type": "run_status", "status": "running"}\n')
        assert tail.poll() == 1
        _append(store, "r3", '{"type": "run_status", "status": "budget_reached"}\n')
        (store.dir("r3") / "run.json").write_text(json.dumps({"id": "r3", "status": "budget_reached"}))
        assert tail.poll() == 1
    finally:
        release.set()
        proc.join(10)
    tail.poll()
    assert [e["status"] for e in seen] == ["running", "budget_reached"]
    assert tail.following() == []
