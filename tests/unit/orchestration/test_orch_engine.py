"""The Engine facade, end to end through worker processes (scripted provider)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from refute.orchestration.engine import Engine, ScriptInvalid
from refute.orchestration.model import Budget, Scope, Usage
from refute.orchestration.store.runs import RunLocked
from refute.orchestration.settings import EngineSettings

FIXTURE = {"rules": [
    {"match": "^find", "reply": {"findings": [{"path": "app.py", "quote": "return a / b", "title": "Division by zero",
                                               "explanation": "b may be 0", "severity": "warning",
                                               "category": "bug"}]}},
    {"match": "^costly", "reply": "expensive", "usage": {"input_tokens": 3000, "output_tokens": 1000}},
    {"match": ".", "reply": "plain answer"},
]}


def write_workflow(ws: Path, name: str, body: str, meta: dict | None = None) -> None:
    folder = ws / ".refute" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    meta = meta or {"name": name, "description": "test workflow", "phases": ["one"], "args": {"n": 3}}
    (folder / f"{name}.py").write_text(f"meta = {meta!r}\n\ndef main(args):\n{body}\n")


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "app.py").write_text("def div(a, b):\n    return a / b\n")
    (tmp_path / "fixture.json").write_text(json.dumps(FIXTURE))
    return tmp_path


@pytest.fixture
def engine(ws):
    e = Engine(ws, EngineSettings(provider="scripted", scripted_fixture="fixture.json"))
    yield e
    e.close()


def test_run_streams_events_and_persists_the_audit_log(engine, ws):
    write_workflow(ws, "fan", "    phase('one')\n    return parallel([lambda i=i: agent('q %d' % i) for i in range(args['n'])])")
    seen: list[dict] = []
    engine.subscribe(lambda ev: seen.append(ev.to_dict()))  # the wire form
    run_id = engine.start("fan", args={"n": 4}, started_by="test")
    info = engine.wait(run_id, timeout=30)
    assert info.status == "completed" and info.result == ["plain answer"] * 4
    assert info.calls_done == 4 and info.usage.total_tokens > 0 and info.cost_usd > 0
    types = [e["type"] for e in seen]
    assert types[0] == "run_status" and types[-1] == "run_status" and seen[-1]["status"] == "completed"
    assert types.count("call_finished") == 4 and "phase" in types and "progress" in types
    finished = [e for e in seen if e["type"] == "call_finished"]
    assert all({"key", "model", "provider", "usage", "cost_usd", "latency_s", "replayed"} <= set(e) for e in finished)
    assert all(e["provider"] == "scripted" for e in finished)
    logged = [ev.to_dict() for ev in engine.events(run_id)]
    assert [e["type"] for e in logged] == types
    assert logged[0]["started_by"] == "test"
    assert (ws / ".refute" / ".gitignore").read_text() == "state/\n"
    assert engine.runs()[-1].id == run_id


def test_report_publishes_findings_with_provenance(engine, ws):
    body = ("    res = agent('find bugs', schema={'type': 'object', 'required': ['findings']})\n"
            "    for f in res['findings']:\n        report(f)\n    report({'path': 'app.py', 'quote': 'not in the file',"
            " 'title': 't', 'explanation': 'e', 'severity': 'info', 'category': 'bug'})")
    write_workflow(ws, "finder", body)
    seen: list[dict] = []
    engine.subscribe(lambda ev: seen.append(ev.to_dict()))  # the wire form
    run_id = engine.start("finder")
    assert engine.wait(run_id, 30).status == "completed"
    found = [e for e in seen if e["type"] == "finding"]
    dropped = [e for e in seen if e["type"] == "finding_dropped"]
    assert len(found) == 1 and len(dropped) == 1
    call_key = next(e["key"] for e in seen if e["type"] == "call_finished")
    assert found[0]["finding"]["provenance"] == [call_key]
    assert found[0]["finding"]["provider"] == "scripted"
    findings = engine.findings(run_id)
    assert [f.title for f in findings] == ["Division by zero"] and findings[0].span.start_line == 1


def _spinning(ws: Path, name: str, body: str) -> None:
    write_workflow(ws, name, "    agent('warm up')\n" + body)


@pytest.mark.parametrize("body", [
    "    while True:\n        pass",
    "    import re\n    re.match('(a+)+$', 'a' * 64 + 'b')",
], ids=["python-loop", "regex-backtracking"])
def test_cancel_stops_a_spinning_script_within_two_seconds(engine, ws, body):
    _spinning(ws, "spin", body)
    run_id = engine.start("spin")
    deadline = time.monotonic() + 20
    while engine.run(run_id).calls_done < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # now inside the loop
    t0 = time.monotonic()
    engine.cancel(run_id)
    info = engine.wait(run_id, timeout=5)
    elapsed = time.monotonic() - t0
    assert info.status == "cancelled"
    assert elapsed < 2.0, f"cancel took {elapsed:.2f} s"


def test_cancel_from_another_engine_goes_through_the_run_store(engine, ws):
    _spinning(ws, "spin2", "    while True:\n        pass")
    run_id = engine.start("spin2")
    time.sleep(0.8)
    other = Engine(ws, EngineSettings(provider="scripted", scripted_fixture="fixture.json"))
    try:
        t0 = time.monotonic()
        other.cancel(run_id)
        info = engine.wait(run_id, timeout=5)
        assert info.status == "cancelled" and time.monotonic() - t0 < 2.0
        with pytest.raises(RunLocked):  # while a live process holds a run, nobody else drives it
            run2 = engine.start("spin2")
            time.sleep(0.3)
            other.resume(run2)
    finally:
        other.close()


def test_a_stalled_run_is_stopped_and_marked(ws):
    _spinning(ws, "stall", "    while True:\n        pass")
    engine = Engine(ws, EngineSettings(provider="scripted", scripted_fixture="fixture.json", idle_timeout_s=1.0))
    try:
        run_id = engine.start("stall")
        info = engine.wait(run_id, timeout=10)
        assert info.status == "failed" and info.error.startswith("stalled")
    finally:
        engine.close()


def test_memory_bomb_is_stopped_by_the_worker_limit(ws, monkeypatch):
    monkeypatch.setenv("REFUTE_WORKER_MEMORY_MB", "400")
    write_workflow(ws, "bomb", "    chunks = []\n    while True:\n        chunks.append('x' * 10000000)")
    engine = Engine(ws, EngineSettings(provider="scripted", scripted_fixture="fixture.json"))
    try:
        info = engine.wait(engine.start("bomb"), timeout=30)
        assert info.status == "failed"
        assert "MemoryError" in info.error and "line 6" in info.error
    finally:
        engine.close()


def test_pause_then_resume_replays_finished_calls(engine, ws):
    fixture = {"rules": [{"match": ".", "reply": "slow answer", "latency_s": 0.3}]}
    (ws / "slow.json").write_text(json.dumps(fixture))
    engine.settings.scripted_fixture = "slow.json"
    write_workflow(ws, "seq", "    out = []\n    for i in range(8):\n        out.append(agent('step %d' % i))\n    return out")
    run_id = engine.start("seq", max_concurrency=1)
    deadline = time.monotonic() + 20
    while engine.run(run_id).calls_done < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    engine.pause(run_id)
    paused = engine.wait(run_id, timeout=10)
    assert paused.status == "paused"
    done_before = paused.calls_done
    assert 2 <= done_before < 8
    engine.resume(run_id)
    info = engine.wait(run_id, timeout=30)
    assert info.status == "completed" and info.result == ["slow answer"] * 8
    assert info.calls_replayed == done_before
    replayed = [e for e in [ev.to_dict() for ev in engine.events(run_id)] if e["type"] == "call_finished" and e["replayed"]]
    assert len(replayed) == done_before and all(e["cost_usd"] == 0 for e in replayed)


def test_script_error_fails_the_run_with_its_line(engine, ws):
    write_workflow(ws, "broken", "    x = agent('q')\n    return x['no such key']")
    info = engine.wait(engine.start("broken"), timeout=30)
    assert info.status == "failed"
    assert info.error.startswith(".refute/workflows/broken.py line 5: TypeError")


def test_start_refuses_a_script_with_problems(engine, ws):
    write_workflow(ws, "bad", "    import os\n    return os.getcwd(")
    with pytest.raises(ScriptInvalid) as info:
        engine.start("bad")
    assert "bad.py:5" in str(info.value) and "SyntaxError" in str(info.value)


def test_check_script_reports_problems_with_zero_based_lines(engine, ws):
    problems = engine.check_script("x = 1\ndef main(a, b):\n    return a.__class__\n")
    messages = [(p.line, p.message) for p in problems]
    assert (0, "no `meta` dict at module level (name, description, phases, args)") in messages
    assert any(line == 2 and "__class__" in m for line, m in messages)
    assert any(line == 1 and "exactly one argument" in m for line, m in messages)
    assert engine.check_script("meta = {'name': 'x'}\ndef main(args):\n    return (\n")[0].message.startswith("SyntaxError")
    write_workflow(ws, "good", "    return 1")
    assert engine.check_script(".refute/workflows/good.py") == []


def test_plan_estimates_without_calling_a_model(ws):
    (ws / "nothing.json").write_text(json.dumps({"rules": [{"match": ".", "error": "invalid"}]}))
    engine = Engine(ws, EngineSettings(provider="scripted", scripted_fixture="nothing.json"))
    try:
        write_workflow(ws, "plan_me", "    schema = {'type': 'object', 'required': ['ok'], 'properties': {'ok': {'type': 'boolean'}}}\n"
                                      "    answers = parallel([lambda i=i: agent('q %d' % i, schema=schema, max_tokens=1000) for i in range(args['n'])])\n"
                                      "    if all(a['ok'] is False for a in answers):\n        agent('follow up', max_tokens=500)\n    return len(answers)")
        estimate = engine.plan("plan_me", Scope(), {"n": 7})
        assert estimate.estimate is True and estimate.status == "completed"
        assert estimate.calls == 8
        assert estimate.max_output_tokens == 7 * 1000 + 500
        assert estimate.cost_usd > 0 and estimate.by_model[EngineSettings().model_default]["calls"] == 8
        assert any("no model was called" in n for n in estimate.notes)
        assert engine.runs() == []  # a plan is not a run
    finally:
        engine.close()


def test_unknown_model_is_a_clear_error_at_start(ws):
    engine = Engine(ws, EngineSettings(provider="scripted", scripted_fixture="fixture.json", model_refuter="gpt-9"))
    try:
        write_workflow(ws, "any", "    return 1")
        with pytest.raises(Exception) as info:
            engine.start("any")
        assert "gpt-9" in str(info.value) and "prices.json" in str(info.value)
        with pytest.raises(Exception):
            engine.plan("any", None, {})
    finally:
        engine.close()


def test_workspace_workflow_overrides_a_bundled_one(engine, ws):
    names = {w.name: w for w in engine.workflows()}
    assert "audit" in names and names["audit"].origin == "bundled"
    write_workflow(ws, "audit", "    return 'mine'", {"name": "audit", "description": "local", "phases": [], "args": {}})
    names = {w.name: w for w in engine.workflows()}
    assert names["audit"].origin == "workspace" and names["audit"].info()["description"] == "local"
    assert engine.wait(engine.start("audit"), 30).result == "mine"


def test_budget_is_enforced_across_the_worker(engine, ws):
    write_workflow(ws, "costly", "    return [agent('costly %d' % i, max_tokens=4000) for i in range(5)]")
    info = engine.wait(engine.start("costly", budget=Budget(tokens=9000)), timeout=30)
    assert info.status == "budget_reached" and "token budget" in info.error
    assert info.calls_done == 2 and info.usage.total_tokens == 8000


def test_nested_workflow_one_level_only(engine, ws):
    write_workflow(ws, "inner", "    return agent('inner %s' % args['x'])",
                   {"name": "inner", "description": "d", "phases": [], "args": {"x": 0}})
    write_workflow(ws, "outer", "    return workflow('inner', {'x': 1})")
    assert engine.wait(engine.start("outer"), 30).result == "plain answer"
    write_workflow(ws, "inner2", "    return workflow('inner', {'x': 2})")
    write_workflow(ws, "outer2", "    return workflow('inner2', {})")
    info = engine.wait(engine.start("outer2"), 30)
    assert info.status == "failed" and "one level of nesting" in info.error


def test_anthropic_without_configuration_names_what_to_set(ws, monkeypatch):
    from refute.orchestration.providers import make_provider
    from refute.orchestration.providers.base import NotConfigured

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("REFUTE_ANTHROPIC_BASE_URL", raising=False)
    with pytest.raises(NotConfigured) as info:
        make_provider(EngineSettings(provider="anthropic"), ws)
    assert "ANTHROPIC_API_KEY" in str(info.value) and "refute plan" in str(info.value)


def test_new_workflow_is_written_by_the_model_and_saved_for_review(ws):
    good = ("meta = {'name': 'todo', 'description': 'd', 'phases': [], 'args': {}}\n\n"
            "def main(args):\n    return agent('hello')\n")
    fixture = {"rules": [
        {"match": "previous draft", "reply": "```python\n" + good + "```"},
        {"match": "Request: find TODOs", "reply": "Here it is:\n```python\nimport os\ndef main(args):\n    pass\n```"},
    ]}
    (ws / "author.json").write_text(json.dumps(fixture))
    engine = Engine(ws, EngineSettings(provider="scripted", scripted_fixture="author.json"))
    try:
        path = engine.new_workflow("find TODOs that hide bugs")
        assert path == ".refute/workflows/find_todos_that_hide_bugs.py"
        assert (ws / path).read_text() == good  # the second draft, after the problems were shown
        assert engine.check_script(path) == []
        runs = engine.runs()
        assert [r.workflow for r in runs] == ["new_workflow", "new_workflow"]
        assert all(r.status == "completed" for r in runs)
    finally:
        engine.close()


def test_bundled_audit_runs_end_to_end_on_real_units(ws):
    fixture = {"rules": [
        {"role": "finder", "match": "app.py", "reply": {"findings": [
            {"path": "app.py", "quote": "return a / b", "title": "Division by zero", "explanation": "b may be 0",
             "severity": "error", "category": "bug"}]}},
        {"role": "refuter", "reply": {"verdict": "confirmed", "reason": "nothing checks b",
                                      "evidence": "return a / b"}},
    ]}
    (ws / "audit.json").write_text(json.dumps(fixture))
    engine = Engine(ws, EngineSettings(provider="scripted", scripted_fixture="audit.json"))
    try:
        seen: list[dict] = []
        engine.subscribe(lambda ev: seen.append(ev.to_dict()))  # the wire form
        estimate = engine.plan("audit", Scope(["app.py"]), {})
        assert estimate.units == 1 and estimate.calls == 1  # placeholder answers: no candidates to refute
        run_id = engine.start("audit", scope=Scope(["app.py"]))
        info = engine.wait(run_id, timeout=60)
        assert info.status == "completed", info.error
        assert {k: info.result[k] for k in ("candidates", "confirmed", "dropped")} == \
            {"candidates": 1, "confirmed": 1, "dropped": 0}
        assert info.result["complete"] and info.result["covered"] == 1
        found = [e["finding"] for e in seen if e["type"] == "finding"]
        assert len(found) == 1 and found[0]["span"]["start_line"] == 1
        assert [v["verdict"] for v in found[0]["verdicts"]] == ["confirmed", "confirmed"]
        assert "Division by zero" in engine.report(run_id, "md")
    finally:
        engine.close()


def test_tokens_spent_by_a_failed_call_count_in_the_run_and_its_audit_log(ws):
    from refute.orchestration.calls import pricing

    rules = {"rules": [{"match": "^long", "error": "truncated",
                        "usage": {"input_tokens": 2000, "output_tokens": 4096}}]}
    (ws / "truncating.json").write_text(json.dumps(rules))
    engine = Engine(ws, EngineSettings(provider="scripted", scripted_fixture="truncating.json"))
    try:
        write_workflow(ws, "cut", "    return agent('long essay', default='cut off', model='claude-haiku-4-5')")
        run_id = engine.start("cut", budget=Budget(usd=1.0))
        info = engine.wait(run_id, timeout=30)
        assert info.status == "completed with failures" and info.result == "cut off"
        expected_usd = pricing.cost("claude-haiku-4-5", Usage(input_tokens=2000, output_tokens=4096))
        assert info.usage.total_tokens == 6096 and info.cost_usd == pytest.approx(expected_usd, rel=1e-6)
        failed = [e for e in [ev.to_dict() for ev in engine.events(run_id)] if e["type"] == "call_failed"]
        assert failed[0]["usage"]["output_tokens"] == 4096 and failed[0]["cost_usd"] == pytest.approx(expected_usd)
    finally:
        engine.close()


def test_worker_events_are_read_in_batches_in_order_and_logged_verbatim(ws):
    """The reader takes whatever is in the pipe at once: a burst, a bad line, the worker's
    own 'running' status (the engine announced it already) and a last line without its
    newline all come out right, and the audit log holds exactly what subscribers saw."""
    import subprocess
    import sys

    from refute.orchestration.engine import _ActiveRun
    from refute.orchestration.model import RunInfo, RunStatus
    from refute.orchestration.sandbox.scripts import WorkflowSource

    engine = Engine(ws, EngineSettings(provider="scripted", scripted_fixture="fixture.json"))
    try:
        info = RunInfo(id=engine.store.new_id(), workflow="fake", script_hash="h", args={}, scope=Scope(),
                       status=RunStatus.RUNNING.value, budget=Budget(None, None), provider="scripted",
                       created_at=time.time())
        settings = EngineSettings(provider="scripted", scripted_fixture="fixture.json")
        engine.store.create(info, WorkflowSource("fake", "def main(args):\n    return 1\n", "stored", None), settings)
        lock = engine.store.lock(info.id)
        lock.acquire()

        def line(type_: str, **fields) -> str:
            return json.dumps({"type": type_, "run_id": info.id, "ts": 1.0, **fields}, ensure_ascii=False)

        burst = [line("run_status", status="running")]
        burst += [line("call_started", key=f"k{i}") for i in range(300)]
        burst += [line("call_finished", key=f"k{i}", usage={"input_tokens": 2}, cost_usd=0.5, label="café ✓")
                  for i in range(300)]
        later = [line("finding", finding={"path": "app.py", "title": "naïve"}), "not json at all"]
        final = line("run_status", status="completed", error=None, result=[1, 2])
        script = ("import sys, time\n"
                  f"sys.stdout.write({chr(10).join(burst)!r} + '\\n'); sys.stdout.flush(); time.sleep(0.1)\n"
                  f"sys.stdout.write({chr(10).join(later)!r} + '\\n'); sys.stdout.flush(); time.sleep(0.1)\n"
                  f"sys.stdout.write({final!r})\n")  # no newline at the end
        proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True, encoding="utf-8")
        seen: list[dict] = []
        engine.subscribe(lambda ev: seen.append(ev.to_dict()))  # the wire form
        active = _ActiveRun(info=info, proc=proc, lock=lock, settings=settings)
        engine._active[info.id] = active
        engine._read_worker(active)
        engine._drain_events()

        expected = [json.loads(x) for x in burst[1:] + later[:1] + [final]]
        assert seen == expected
        assert [ev.to_dict() for ev in engine.events(info.id)] == expected
        raw = (engine.store.dir(info.id) / "events.jsonl").read_text("utf-8").splitlines()
        assert raw == burst[1:] + later[:1] + [final]  # the worker's text, not encoded a second time
        stored = engine.store.load(info.id)
        assert stored.status == "completed" and stored.result == [1, 2]
        assert stored.calls_done == 300 and stored.usage.input_tokens == 600 and stored.cost_usd == 150.0
        assert not active.calls_waiting and active.finished.is_set() and not lock.held
    finally:
        engine.close()


@pytest.mark.parametrize("override", [None, "0"])
def test_run_worker_runs_at_the_priority_the_engine_asks_for(ws, monkeypatch, override):
    """A run's worker yields the CPU to the process driving it (the language server asks
    for nice 19); REFUTE_WORKER_NICE=0 keeps the parent's priority."""
    import os

    if override is not None:
        monkeypatch.setenv("REFUTE_WORKER_NICE", override)
    write_workflow(ws, "slow", "    return agent('q slow')")
    engine = Engine(ws, EngineSettings(provider="scripted", scripted_fixture="fixture.json", scripted_latency_s=1.0),
                    worker_nice=7)
    try:
        seen: list[dict] = []
        engine.subscribe(lambda ev: seen.append(ev.to_dict()))  # the wire form
        run_id = engine.start("slow")
        deadline = time.monotonic() + 10
        while not any(e["type"] == "call_started" for e in seen) and time.monotonic() < deadline:
            time.sleep(0.01)  # the call has started: the worker set its priority before that
        worker_pid = next(e["worker_pid"] for e in seen if e.get("worker_pid"))
        worker_nice = os.getpriority(os.PRIO_PROCESS, worker_pid)
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert worker_nice == (mine if override == "0" else min(19, mine + 7))
        assert engine.wait(run_id, timeout=30).status == "completed"
    finally:
        engine.close()


def test_a_failed_call_fails_its_item_and_the_report_lists_it(engine, ws):
    # Issue 12: one failed call used to fail a whole audit (exit 1).
    (ws / "fx.json").write_text(json.dumps({"rules": [{"match": "^bad", "error": "refused"},
                                                      {"match": ".", "reply": "fine"}]}))
    engine.settings.scripted_fixture = "fx.json"
    write_workflow(ws, "items", "    return parallel([lambda p=p: agent(p) for p in ['good 1', 'bad 2', 'good 3']])")
    info = engine.wait(engine.start("items"), timeout=30)
    assert info.status == "completed with failures" and info.result == ["fine", None, "fine"]
    report = engine.report(info.id, "md")
    assert "## Failed agent calls (1)" in report and "Refused" in report
    assert json.loads(engine.report(info.id, "json"))["failed_calls"][0]["error"].startswith("Refused")
