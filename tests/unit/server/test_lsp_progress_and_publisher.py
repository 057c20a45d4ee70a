"""Run tracking from engine events, and the debounced publisher, without a client."""

import asyncio

import pytest

from refute.server.lsp.diagnostics import Publisher
from refute.server.lsp.documents import Documents
from refute.server.lsp.findings_index import FindingIndex
from refute.server.lsp.progress import RUN_UPDATE, RunTracker
from refute.server.lsp.session import ClientSupport

from refute.orchestration.model import RunEvent

from lsp_unit_helpers import SOURCE, make_finding


def _on(tracker: RunTracker, raw: dict) -> None:
    """An event as the engine hands it to subscribers: typed, from its wire form."""
    tracker.on_event(RunEvent.from_dict(raw))


class FakeProtocol:
    def __init__(self):
        self.sent = []

    def notify(self, method, params):
        self.sent.append((method, params))


class FakeClient:
    """Just the messages RunTracker and Publisher send."""

    def __init__(self):
        self.protocol = FakeProtocol()
        self.published = []
        self.messages = []

    def text_document_publish_diagnostics(self, params):
        self.published.append(params)

    def window_show_message(self, params):
        self.messages.append(params)


class FakeSession:
    """Just what RunTracker touches; the client has no progress support."""

    def __init__(self):
        self.client = FakeClient()
        self.support = ClientSupport()

    def log_warning(self, message):
        raise AssertionError(message)


async def test_run_updates_follow_events_and_counts_only_grow(tmp_path):
    session = FakeSession()
    tracker = RunTracker(session)
    tracker.track("r1", "audit", planned_calls=4)
    _on(tracker, {"type": "call_started", "run_id": "r1"})
    _on(tracker, {"type": "call_finished", "run_id": "r1", "usage": {"input_tokens": 10, "output_tokens": 5},
                      "cost_usd": 0.5, "provider": "scripted"})
    _on(tracker, {"type": "progress", "run_id": "r1", "calls_done": 0, "in_flight": 2, "tokens": 3})
    state = tracker.runs["r1"]
    assert (state.calls_done, state.in_flight, state.tokens, state.cost_usd) == (1, 2, 15, 0.5)
    assert state.message() == "1/4 calls, 2 in flight · 15 tokens, $0.50 · scripted"
    _on(tracker, {"type": "run_status", "run_id": "r1", "status": "failed", "error": "line 3: boom"})
    assert state.finished and state.done.is_set()
    method, update = session.client.protocol.sent[-1]
    assert method == RUN_UPDATE and update["status"] == "failed" and update["workflow"] == "audit"
    assert "line 3: boom" in session.client.messages[-1].message  # a failure is shown, not just logged
    assert tracker.active() == []


async def test_a_budget_reached_run_ends_its_progress_like_the_cli_says(tmp_path):
    """budget_reached is a final status (RunStatus.finished, `refute run` exit 5): the
    editor ends the run's progress and no longer counts it active (a settings restart
    waits for active runs), and a resume starts a fresh progress."""
    session = FakeSession()
    tracker = RunTracker(session)
    tracker.track("r1", "spend")
    _on(tracker, {"type": "run_status", "run_id": "r1", "status": "running"})
    _on(tracker, {"type": "run_status", "run_id": "r1", "status": "budget_reached", "error": "budget"})
    state = tracker.runs["r1"]
    assert state.finished and state.done.is_set() and tracker.active() == []
    assert session.client.protocol.sent[-1][1]["status"] == "budget_reached"
    ended = state.done
    _on(tracker, {"type": "run_status", "run_id": "r1", "status": "running"})  # resumed with a larger budget
    assert state.done is not ended and not state.done.is_set() and tracker.active() == [state]


async def test_a_failed_call_that_was_paid_for_counts_in_the_spend(tmp_path):
    session = FakeSession()
    tracker = RunTracker(session)
    tracker.track("r1", "audit", planned_calls=2)
    _on(tracker, {"type": "call_started", "run_id": "r1"})
    _on(tracker, {"type": "call_failed", "run_id": "r1", "error": "invalid output",
                      "usage": {"input_tokens": 30, "output_tokens": 7}, "cost_usd": 0.25})
    state = tracker.runs["r1"]
    assert (state.calls_failed, state.in_flight, state.tokens, state.cost_usd) == (1, 0, 37, 0.25)


async def test_publisher_debounces_per_file_and_clears(tmp_path):
    (tmp_path / "app.py").write_text(SOURCE)
    client, findings = FakeClient(), FindingIndex()
    publisher = Publisher(client, Documents(tmp_path), findings, "utf-16", pull=False,
                          warn=lambda message: pytest.fail(message))
    findings.add(make_finding(fp="a"), None)
    findings.add(make_finding(fp="b", quote="return os.system(cmd)", line=5), None)
    for _ in range(5):
        publisher.schedule("app.py", delay=0.01)
    await asyncio.sleep(0.1)
    assert len(client.published) == 1 and len(client.published[0].diagnostics) == 2
    findings.remove("a")
    findings.remove("b")
    publisher.now("app.py")
    assert client.published[-1].diagnostics == []  # cleared at once
    publisher.now("app.py")
    assert len(client.published) == 2  # nothing to clear twice
