"""End to end through the real `anthropic` SDK: Engine -> worker process -> scheduler ->
AnthropicProvider -> HTTP -> the loopback Messages API (tests/fakes/messages_api.py).

Shows what the unit tests cannot: the journal holds usage and cost for every call, a
second run of the same workflow sends nothing, a storm of 429s is absorbed with the
concurrency lowered and raised again (visible as "concurrency" events in the audit log),
and a batch-mode run whose worker is killed resumes its batch by id.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from pathlib import Path

import diskcache
import pytest

try:
    from tests.fakes.messages_api import TEST_API_KEY, FakeMessagesAPI, json_reply, rate_limited
except ImportError:  # pytest started from another directory
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.fakes.messages_api import TEST_API_KEY, FakeMessagesAPI, json_reply, rate_limited

from refute.orchestration.calls import pricing
from refute.orchestration.engine import Engine
from refute.orchestration.model import Usage
from refute.orchestration.settings import EngineSettings

MODEL = "claude-haiku-4-5"
WORKFLOW = '''
meta = {"name": "e2e_fan", "description": "fan-out through the Anthropic provider",
        "phases": ["find"], "args": {"n": 4, "context": None}}

SCHEMA = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}


def main(args):
    phase("find")
    return parallel([lambda i=i: agent("unit %d" % i, context=args["context"], schema=SCHEMA,
                                       label="find %d" % i, role="finder")
                     for i in range(args["n"])])
'''


def _echo(call):
    return json_reply({"echo": call.params["messages"][0]["content"][-1]["text"]})


@pytest.fixture
def fake():
    with FakeMessagesAPI(responder=_echo) as api:
        yield api


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_API_KEY)  # inherited by the run's worker process
    (tmp_path / "app.py").write_text("def div(a, b):\n    return a / b\n")
    folder = tmp_path / ".refute" / "workflows"
    folder.mkdir(parents=True)
    (folder / "e2e_fan.py").write_text(WORKFLOW)
    return tmp_path


def _engine(workspace: Path, fake: FakeMessagesAPI, **overrides) -> Engine:
    settings = EngineSettings(provider="anthropic", anthropic_base_url=fake.url, model_default=MODEL,
                              model_finder=MODEL, model_refuter=MODEL, model_editor=MODEL, call_timeout_s=20,
                              **overrides)
    return Engine(workspace, settings)


def test_journal_records_usage_and_cost_and_a_rerun_sends_nothing(workspace, fake):
    engine = _engine(workspace, fake)
    try:
        args = {"n": 4, "context": "Shared project notes for every unit. " * 500}  # above the cache minimum
        first = engine.wait(engine.start("e2e_fan", args=args, started_by="e2e"), timeout=120)
        assert first.status == "completed", first.error
        assert first.result == [{"echo": f"unit {i}"} for i in range(4)]
        assert fake.count("POST", "/v1/messages") == 4
        finished = [e for e in [ev.to_dict() for ev in engine.events(first.id)] if e["type"] == "call_finished"]
        assert len(finished) == 4 and all(e["provider"] == "anthropic" and e["cost_usd"] > 0 for e in finished)
        # The scheduler warms the cache with the first call; the others read the shared prefix.
        assert sum(1 for e in finished if e["usage"]["cache_read_tokens"] > 0) == 3

        journal = diskcache.Cache(str(workspace / ".refute" / "state" / "journal"))
        entries = [journal[k] for k in journal.iterkeys() if str(k).startswith("call/")]
        journal.close()
        assert len(entries) == 4
        for entry in entries:
            result = entry["result"]
            assert result["provider"] == "anthropic" and result["model"] == MODEL
            assert result["usage"]["input_tokens"] > 0 and result["usage"]["output_tokens"] > 0
            assert result["cost_usd"] > 0
        journal_text = json.dumps(entries)
        assert TEST_API_KEY not in journal_text

        second = engine.wait(engine.start("e2e_fan", args=args, started_by="e2e"), timeout=120)
        assert second.status == "completed" and second.result == first.result
        assert fake.count("POST", "/v1/messages") == 4  # zero new requests
        replayed = [e for e in [ev.to_dict() for ev in engine.events(second.id)] if e["type"] == "call_finished"]
        assert len(replayed) == 4 and all(e["replayed"] for e in replayed)
        assert second.cost_usd == 0
    finally:
        engine.close()
    audit = "".join(p.read_text() for p in (workspace / ".refute" / "state").rglob("*.jsonl"))
    assert TEST_API_KEY not in audit


def test_a_429_storm_lowers_concurrency_and_it_recovers(workspace, fake):
    lock = threading.Lock()
    seen = {"n": 0}
    storm = 6

    def responder(call):
        with lock:
            seen["n"] += 1
            in_storm = seen["n"] <= storm
        return rate_limited(retry_after=0.05) if in_storm else _echo(call)

    fake.responder = responder
    engine = _engine(workspace, fake, max_concurrency=4)
    try:
        info = engine.wait(engine.start("e2e_fan", args={"n": 16}, started_by="e2e"), timeout=120)
        events = [ev.to_dict() for ev in engine.events(info.id)]
    finally:
        engine.close()
    assert info.status == "completed", info.error
    assert info.calls_done == 16 and info.calls_failed == 0
    assert fake.count("POST", "/v1/messages") == 16 + storm  # every 429 was retried once it passed

    limits = [e["limit"] for e in events if e["type"] == "concurrency"]
    assert limits, "no concurrency events in the audit log"
    lowest = min(limits)
    assert lowest < 4  # halved by the storm
    assert max(limits[limits.index(lowest):]) > lowest  # and raised again afterwards


def test_batch_mode_resumes_by_batch_id_after_the_worker_is_killed(workspace, fake, monkeypatch):
    fake.batch_ready_after_polls = 10**6  # the batch stays "in_progress" while the first worker lives
    engine = _engine(workspace, fake, batch=True, batch_window_s=0.3, batch_poll_s=0.05)
    try:
        run_id = engine.start("e2e_fan", args={"n": 4}, started_by="e2e")
        _wait_for(lambda: _batched_items(fake) == 4)
        # The worker polls a batch only after it has stored the batch's id: wait for a poll.
        # (A kill between the API accepting a batch and that write would resubmit it.)
        _wait_for(lambda: _polled_batches(fake) == set(fake.batches))
        engine.cancel(run_id)  # kills the worker mid-batch
        assert engine.wait(run_id, timeout=60).status == "cancelled"
        submitted = fake.count("POST", "/v1/messages/batches")

        fake.batch_ready_after_polls = 0
        engine.resume(run_id)
        info = engine.wait(run_id, timeout=120)
        events = [ev.to_dict() for ev in engine.events(run_id)]
    finally:
        engine.close()
    assert info.status == "completed", info.error
    assert info.result == [{"echo": f"unit {i}"} for i in range(4)]
    assert fake.count("POST", "/v1/messages/batches") == submitted  # picked up by id, not resubmitted
    assert fake.count("POST", "/v1/messages") == 0  # nothing went to the synchronous endpoint
    finished = [e for e in events if e["type"] == "call_finished" and not e["replayed"]]
    assert len(finished) == 4
    for event in finished:
        usage = Usage.from_dict(event["usage"])
        assert event["cost_usd"] == pytest.approx(pricing.cost(MODEL, usage, batch=True))


def _batched_items(fake: FakeMessagesAPI) -> int:
    return sum(len(r.body["requests"]) for r in list(fake.requests)
               if r.method == "POST" and r.path == "/v1/messages/batches")


def _polled_batches(fake: FakeMessagesAPI) -> set[str]:
    return {r.path.rsplit("/", 1)[-1] for r in list(fake.requests)
            if r.method == "GET" and re.fullmatch(r"/v1/messages/batches/[^/]+", r.path)}


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
