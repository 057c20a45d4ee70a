"""Language-server responsiveness while a 1,000-call run streams findings.

Measures hover and codeAction latency (client-side round trip, p50/p99) on a file with
findings, first idle, then while a scripted run of ~990 agent calls streams findings
into the editor, in one process, side by side. Targets: p99 <= 50 ms under load and a
load/idle p99 ratio <= 2.

    .venv/bin/python bench/lsp_latency.py [--files 330] [--latency 0.05] [--samples 400]

The scripted provider answers every call (labelled "scripted"); no model is involved.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import client_capabilities, make_test_lsp_client

ANSWERS = '''
def answer(request):
    label = request.get("label") or ""
    if label.startswith("audit:find "):
        path = label[len("audit:find "):].strip()
        return {"findings": [{"path": path, "quote": "eval(expr)", "title": "eval of input",
                              "explanation": "expr is evaluated as code", "severity": "error",
                              "category": "security", "fix": {"old": "eval(expr)", "new": "ast.literal_eval(expr)"}}]}
    return {"verdict": "confirmed", "reason": "expr comes from the caller", "evidence": "eval(expr)"}
'''

TARGET = "target.py"
TARGET_TEXT = "import ast\n\n\ndef parse(expr):\n    return eval(expr)\n"


def make_workspace(root: Path, files: int) -> Path:
    (root / ".refute").mkdir(parents=True)
    (root / ".refute" / "bench_answers.py").write_text(ANSWERS, "utf-8")
    (root / TARGET).write_text(TARGET_TEXT, "utf-8")
    pkg = root / "pkg"
    pkg.mkdir()
    for i in range(files - 1):
        (pkg / f"m{i:04d}.py").write_text(f"def parse_{i}(expr):\n    return eval(expr)\n", "utf-8")
    return root


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), to show how busy the server itself is."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[index]


async def measure(client, uri: str, samples: int, until=None) -> tuple[list[float], list[float]]:
    """Alternate hover and codeAction requests; returns (hover ms, codeAction ms)."""
    hover_ms: list[float] = []
    action_ms: list[float] = []
    position = types.Position(4, 13)  # inside eval(expr)
    for _ in range(samples):
        if until is not None and until():
            break
        t0 = time.perf_counter()
        hover = await client.text_document_hover_async(
            types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=position))
        hover_ms.append((time.perf_counter() - t0) * 1000)
        assert hover is not None, "hover found no finding: the benchmark would measure nothing"
        diags = [d for d in client.diagnostics.get(uri, []) if d.source == "refute"]
        t0 = time.perf_counter()
        actions = await client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(position, position),
            context=types.CodeActionContext(diagnostics=diags)))
        action_ms.append((time.perf_counter() - t0) * 1000)
        assert actions, "no code actions: the benchmark would measure nothing"
        await asyncio.sleep(0.005)  # a person's editor does not hammer; leave the loop a breath
    return hover_ms, action_ms


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=330, help="files, one finding each (3 calls per file)")
    parser.add_argument("--latency", type=float, default=0.05, help="scripted seconds per call")
    parser.add_argument("--samples", type=int, default=400, help="request pairs per phase")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the same figures (the table goes to stderr)")
    ns = parser.parse_args()
    say = functools.partial(print, file=sys.stderr if ns.json else sys.stdout)

    with tempfile.TemporaryDirectory(prefix="refute-lsp-bench-") as tmp:
        ws = make_workspace(Path(tmp), ns.files)
        client = make_test_lsp_client()
        updates: list[dict] = []

        @client.feature("refute/runUpdate")
        def run_update(ls, params):
            updates.append(params if isinstance(params, dict) else params._asdict())

        await client.start_io(sys.executable, "-m", "refute.server.cli", "lsp", "--log-level", "ERROR")
        await client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities("visual_studio_code"),
            root_uri=from_fs_path(str(ws)),
            initialization_options={
                "provider": "scripted", "scriptedFixture": ".refute/bench_answers.py:answer",
                "scriptedLatencyS": ns.latency, "approvalThresholdCalls": 100000, "approvalThresholdUsd": 1e9,
            },
        ))
        # The measuring client is Python too: keep its own GC pauses out of the numbers
        # (the server does the same at start-up, see server/commands/lsp.py).
        gc.collect()
        gc.freeze()
        uri = from_fs_path(str(ws / TARGET))
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=TARGET_TEXT)))

        async def run(scope: dict) -> str:
            result = await client.workspace_execute_command_async(types.ExecuteCommandParams(
                command="refute.run", arguments=[{"workflow": "audit", "scope": scope}]))
            return result["runId"]

        def status(run_id: str) -> str:
            mine = [u for u in updates if u.get("runId") == run_id]
            return mine[-1]["status"] if mine else ""

        def finished(run_id: str) -> bool:
            return status(run_id) in ("completed", "completed with failures", "failed", "cancelled")

        async def wait(pred, timeout: float, what: str) -> None:
            deadline = time.monotonic() + timeout
            while not pred():
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out waiting for {what}")
                await asyncio.sleep(0.05)

        # Warm-up: a small run puts a finding into the target file (and warms caches).
        warm = await run({"paths": [TARGET]})
        await wait(lambda: finished(warm), 120, "the warm-up run")
        await wait(lambda: any(d.source == "refute" for d in client.diagnostics.get(uri, [])), 10, "a diagnostic")

        # Idle samples are taken half before and half after the loaded phase, so a change in
        # the machine's background load during the run skews both sides alike.
        idle_hover, idle_action = await measure(client, uri, ns.samples // 2)

        server_pid = client._server.pid
        cpu_before = cpu_seconds(server_pid)
        big = await run({})
        t_start = time.monotonic()
        await wait(lambda: any(u.get("runId") == big and u.get("callsDone", 0) > 0 for u in updates), 120,
                   "the big run to start calling")
        load_hover, load_action = await measure(client, uri, ns.samples, until=lambda: finished(big))
        during = [u for u in updates if u.get("runId") == big]
        calls_at_end_of_sampling = max((u.get("callsDone", 0) for u in during), default=0)
        await wait(lambda: finished(big), 600, "the big run to finish")
        run_seconds = time.monotonic() - t_start
        server_cpu = cpu_seconds(server_pid) - cpu_before
        await asyncio.sleep(0.5)  # the last debounced publishes
        more_hover, more_action = await measure(client, uri, ns.samples - ns.samples // 2)
        idle_hover += more_hover
        idle_action += more_action
        final = [u for u in updates if u.get("runId") == big][-1]
        files_with_findings = sum(1 for diags in client.diagnostics.values() if any(d.source == "refute" for d in diags))
        await client.shutdown_session()
        await client.stop()

    say(f"workspace: {ns.files} files; big run: {final['status']}, {final['callsDone']} calls "
          f"({final['callsFailed']} failed), {run_seconds:.1f} s, {files_with_findings} files with diagnostics, "
          f"{len(during)} runUpdate notifications")
    say(f"server process CPU during the big run: {server_cpu:.2f} s over {run_seconds:.1f} s "
          f"({100 * server_cpu / run_seconds:.0f}% of one core; scripts and calls run in the engine's worker process)")
    say(f"samples: idle {len(idle_hover)} pairs, under load {len(load_hover)} pairs "
          f"(load sampling ended at {calls_at_end_of_sampling} calls done)")
    say(f"{'request':<12}{'idle p50':>10}{'idle p99':>10}{'load p50':>10}{'load p99':>10}{'p99 ratio':>11}")
    worst_p99 = 0.0
    worst_ratio = 0.0
    requests: dict[str, dict[str, float]] = {}
    for name, idle, load in (("hover", idle_hover, load_hover), ("codeAction", idle_action, load_action)):
        i50, i99, l50, l99 = pct(idle, 50), pct(idle, 99), pct(load, 50), pct(load, 99)
        ratio = l99 / i99 if i99 > 0 else float("inf")
        requests[name] = {"idle_p50_ms": i50, "idle_p99_ms": i99, "load_p50_ms": l50, "load_p99_ms": l99,
                          "p99_ratio": ratio}
        say(f"{name:<12}{i50:>9.2f}ms{i99:>8.2f}ms{l50:>8.2f}ms{l99:>8.2f}ms{ratio:>10.2f}x")
        worst_p99, worst_ratio = max(worst_p99, l99), max(worst_ratio, ratio)
    worst = sorted(load_hover + load_action, reverse=True)[:5]
    say("slowest under load (ms): " + ", ".join(f"{v:.1f}" for v in worst))
    mean_ratio = statistics.mean(load_hover + load_action) / statistics.mean(idle_hover + idle_action)
    say(f"mean load/idle: {mean_ratio:.2f}x")
    say(f"target p99 under load <= 50 ms: {'MET' if worst_p99 <= 50 else 'NOT MET'} ({worst_p99:.1f} ms)")
    say(f"target load/idle p99 <= 2x:     {'MET' if worst_ratio <= 2 else 'NOT MET'} ({worst_ratio:.2f}x)")
    if len(load_hover) < ns.samples // 3:
        say("warning: the run finished before enough samples under load; raise --latency or --files")
    if ns.json:
        print(json.dumps({"files": ns.files, "run_status": final["status"], "calls_done": final["callsDone"],
                          "run_seconds": run_seconds, "server_cpu_s": server_cpu,
                          "samples_idle": len(idle_hover), "samples_load": len(load_hover), "requests": requests,
                          "mean_load_idle": mean_ratio, "worst_load_p99_ms": worst_p99,
                          "worst_p99_ratio": worst_ratio, "target_p99_met": worst_p99 <= 50,
                          "target_ratio_met": worst_ratio <= 2}))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
