"""What the editor features of issue 16 cost the language server, side by side.

1. Workspace diagnostics (VS Code repeats `workspace/diagnostic` 2 s after each answer):
   a poll where nothing changed (every file answered "unchanged" by resultId) against a
   full report of every file (each file read from disk, every finding converted).
2. Following other processes' runs (store/run_tail.py, polled every 0.25 s): one poll of
   a run store holding many finished runs, against one that also reads 1,000 new
   events of a followed run.

    .venv/bin/python bench/editor_feeds.py [--files 300] [--runs 200] [--json]

Pure server-side: no client, no model (the findings are made up, the events scripted).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types

from refute.orchestration.model import Finding, Span, Verdict
from refute.orchestration.store.runs import RunStore
from refute.orchestration.store.run_tail import RunLogTail
from refute.server.lsp.diagnostics import Publisher
from refute.server.lsp.documents import Documents
from refute.server.lsp.findings_index import FindingIndex
from refute.server.lsp.pull_diagnostics import workspace_report
from refute.server.lsp.server import create_server


def _ms(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def workspace_pull(root: Path, files: int, repeat: int) -> dict[str, float]:
    findings = FindingIndex()
    publisher = Publisher(create_server(), Documents(root), findings, "utf-16", pull=True, warn=print)
    for i in range(files):
        rel = f"pkg/mod_{i:03d}.py"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"def f_{i}(expr):\n    return eval(expr)\n", encoding="utf-8")
        finding = Finding(fingerprint=f"fp{i:030d}", path=rel, span=Span(1, 11, 1, 21), severity="error",
                          category="security", title="eval of input", explanation="", quote="eval(expr)",
                          verdicts=[Verdict("confirmed", "r")], confidence=0.9, run_id="r", workflow="audit")
        findings.add(finding, None)
        publisher.versions[rel] = 1
    full = workspace_report(publisher, types.WorkspaceDiagnosticParams(previous_result_ids=[]))
    held = [types.PreviousResultId(uri=item.uri, value=item.result_id) for item in full.items]
    unchanged = types.WorkspaceDiagnosticParams(previous_result_ids=held)
    assert all(item.kind == "unchanged" for item in workspace_report(publisher, unchanged).items)
    full_ms = _ms(lambda: workspace_report(publisher, types.WorkspaceDiagnosticParams(previous_result_ids=[])), repeat)
    unchanged_ms = _ms(lambda: workspace_report(publisher, unchanged), repeat)
    return {"files": files, "full_ms": full_ms, "unchanged_ms": unchanged_ms, "ratio": full_ms / unchanged_ms}


def run_tail(root: Path, runs: int, repeat: int) -> dict[str, float]:
    store = RunStore(root)
    for i in range(runs):
        folder = store.dir(f"old-{i:04d}")
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"id": folder.name, "status": "completed"}))
    tail = RunLogTail(store, lambda event: None)
    tail.poll()  # every finished run is seen once, then skipped
    idle_ms = _ms(tail.poll, repeat)
    # A run another process drives: a child holds its lock while this side reads.
    live = store.dir("live-0001")
    live.mkdir()
    (live / "run.json").write_text(json.dumps({"id": "live-0001", "status": "running"}))
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, json, os, sys, time\n"
        f"fd = os.open({str(live / 'lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); os.ftruncate(fd, 0); os.write(fd, json.dumps({'pid': os.getpid()}).encode())\n"
        "print('held', flush=True); sys.stdin.read()\n")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        batch = "".join(json.dumps({"type": "call_finished", "run_id": "live-0001", "key": f"k{j}", "usage": {},
                                    "cost_usd": 0.001}) + "\n" for j in range(1000))
        samples = []
        for _ in range(repeat):
            with open(live / "events.jsonl", "a", encoding="utf-8") as fh:
                fh.write(batch)
            start = time.perf_counter()
            handed = tail.poll()
            samples.append((time.perf_counter() - start) * 1000)
            assert handed == 1000, handed
        busy_ms = statistics.median(samples)
    finally:
        holder.stdin.close()
        holder.wait(10)
    return {"runs": runs, "idle_poll_ms": idle_ms, "poll_1000_events_ms": busy_ms, "ratio": busy_ms / idle_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON object with the same figures")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pull = workspace_pull(Path(tmp) / "ws", opts.files, opts.repeat)
        tail = run_tail(Path(tmp) / "state", opts.runs, opts.repeat)
    if opts.json:
        print(json.dumps({"workspace_pull": pull, "run_tail": tail}))
        return
    print(f"{'measure':<52} {'median ms':>10}")
    print(f"{'workspace/diagnostic, ' + str(pull['files']) + ' files, full report':<52} {pull['full_ms']:>10.2f}")
    print(f"{'workspace/diagnostic, ' + str(pull['files']) + ' files, all unchanged':<52} {pull['unchanged_ms']:>10.2f}")
    print(f"{'  full / unchanged':<52} {pull['ratio']:>10.1f}x")
    print(f"{'run-log tail poll, ' + str(tail['runs']) + ' finished runs, nothing new':<52} {tail['idle_poll_ms']:>10.2f}")
    print(f"{'run-log tail poll, + 1,000 new events of a followed run':<52} {tail['poll_1000_events_ms']:>10.2f}")
    print(f"{'  busy / idle':<52} {tail['ratio']:>10.1f}x")


if __name__ == "__main__":
    main()
