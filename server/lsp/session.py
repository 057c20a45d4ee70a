"""One language server's session: the state every feature shares, and the engine.

server.py creates one `Session` next to the pygls server and hands both to each feature
module's `register(server, session, ...)`; no feature imports another's module to reach
its state, and nothing here imports a feature, so server/lsp/ has no import cycle
(tests/unit/test_layering.py). The session holds:

- what `initialize` settled, once: the workspace root, the open documents, the position
  encoding and what the client supports (`ClientSupport`);
- the settings (initialization options, then `workspace/configuration`);
- the engine, created off the loop and called on the session's own thread pool
  (`engine_call`), restarted when settings change;
- the findings index, the diagnostics publisher and the runs with proposed edits per
  file, kept up to date from engine events;
- the event pump, which hands engine events to the loop and then to each listener (run
  tracking in progress.py listens) and tells listeners about text changes
  (script_diagnostics.py) and runs this server starts (progress.py).

Threading (see FACTS.md, "pygls 2 pitfalls"): pygls reads stdin on its own thread pool,
so nothing here uses `@server.thread()`. Handlers run on the event loop and return in
milliseconds; anything that touches the engine's stores or plans runs on
`self.executor`, a small pool the session owns; runs execute in worker processes the
engine starts. Engine events arrive on engine threads and are handed to the loop with
`loop.call_soon_threadsafe`, which is the only thread that talks to the client.

Runs this process does not drive (started from the CLI or another editor) reach the
same path: `RunLogTail` follows their audit logs in the run store and posts their
events like the engine's own, so their progress and findings show live.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import logging
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from refute.orchestration.model import Finding, RunEvent
from refute.orchestration.settings import EngineSettings

from . import settings as settings_mod
from .diagnostics import Publisher
from .documents import Documents
from .errors import EngineUnavailable, message, to_lsp_error
from .findings_index import FindingIndex
from .positions import normalise_encoding

log = logging.getLogger(__name__)
T = TypeVar("T")

EVENT_BUDGET_S = 0.001  # of engine events handled per loop turn before requests get a turn
# Pause between two turns of background work (events here, publishing in diagnostics.py).
# A request needs several loop iterations (pygls reads its header and body on a thread
# pool, each hop one iteration): with the next turn queued by call_soon, a turn could run
# before each hop. A short pause lets a request in flight finish first.
BACKGROUND_YIELD_S = 0.001
_IGNORED_EVENTS = {"log", "concurrency", "finding_dropped"}  # nothing in the editor shows them live

_HIDDEN_STATES = {"dismissed", "fixed"}

EngineFactory = Callable[[Path, EngineSettings], Any]

# Runs' workers at the lowest CPU priority: the editor's requests must win the cores
# (a 1,000-call run's worker otherwise doubled hover latency on a two-core machine).
WORKER_NICE = 19


def _default_engine_factory(root: Path, settings: EngineSettings) -> Any:
    # Imported when the engine starts, not when `refute lsp` starts (see commands/lsp.py).
    from refute.orchestration.engine import Engine

    return Engine(root, settings, worker_nice=WORKER_NICE)


@dataclass(frozen=True)
class ClientSupport:
    """What the client said it supports, read once from `initialize`'s capabilities."""

    work_done_progress: bool = False
    show_document: bool = False
    configuration: bool = False
    document_changes: bool = False
    change_annotations: bool = False
    create_files: bool = False
    markdown_hover: bool = True  # a client that names no hover formats gets Markdown
    pull_diagnostics: bool = False  # textDocument/diagnostic and the refresh request

    @classmethod
    def of(cls, caps: types.ClientCapabilities) -> "ClientSupport":
        def get(field: str, default: Any) -> Any:
            return get_capability(caps, field, default)

        hover_formats = get("text_document.hover.content_format", []) or []
        return cls(
            work_done_progress=bool(get("window.work_done_progress", False)),
            show_document=bool(get("window.show_document.support", False)),
            configuration=bool(get("workspace.configuration", False)),
            document_changes=bool(get("workspace.workspace_edit.document_changes", False)),
            change_annotations=get("workspace.workspace_edit.change_annotation_support", None) is not None,
            create_files="create" in (get("workspace.workspace_edit.resource_operations", []) or []),
            markdown_hover=not hover_formats or types.MarkupKind.Markdown in hover_formats,
            pull_diagnostics=bool(get("text_document.diagnostic", None) is not None
                                  and get("workspace.diagnostics.refresh_support", False)),
        )


class ProposedEdits:
    """The runs with proposed edits per file (the file's source action offers them)."""

    def __init__(self) -> None:
        self._runs: dict[str, set[str]] = {}

    def add(self, path: str, run_id: str) -> None:
        self._runs.setdefault(path, set()).add(run_id)

    def applied(self, path: str, run_id: str) -> None:
        self._runs.get(path, set()).discard(run_id)

    def runs(self, path: str) -> list[str]:
        return sorted(self._runs.get(path, ()))


class Session:
    def __init__(self, client: LanguageServer, engine_factory: EngineFactory | None = None,
                 base_settings: EngineSettings | None = None):
        self.client = client  # the pygls server: every message to the editor goes through it
        self.engine_factory = engine_factory or _default_engine_factory
        self.settings: EngineSettings = base_settings or EngineSettings.from_env()
        self.support = ClientSupport()
        self.root: Path | None = None
        self.documents = Documents(Path.cwd())
        self.encoding = "utf-16"
        self.findings = FindingIndex()
        self.publisher = self._publisher(pull=False)
        self.proposed_edits = ProposedEdits()
        self.engine: Any = None
        self.engine_error: str | None = None
        self.engine_ready: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        # The session's own pool for engine calls: never pygls's (which reads stdin).
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="refute-lsp")
        self.pending_warnings: list[str] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._tail: Any = None  # RunLogTail of runs driven by other processes
        self._events: collections.deque[RunEvent] = collections.deque()
        self._events_lock = threading.Lock()
        self._drain_scheduled = False
        # Listeners: engine events (on the loop, after the findings index has them),
        # buffer texts (path, text, immediate) on open/change, and runs this server started
        # or resumed (run_id, workflow, planned_calls), heard before their first event.
        self.event_listeners: list[Callable[[RunEvent], None]] = []
        self.text_listeners: list[Callable[[str, str, bool], None]] = []
        self.run_listeners: list[Callable[[str, str, int | None], Any]] = []

    def _publisher(self, pull: bool) -> Publisher:
        return Publisher(self.client, self.documents, self.findings, self.encoding, pull=pull, warn=self.log_warning)

    # --- logging to the client ------------------------------------------------------

    def log_to_client(self, text: str, kind: types.MessageType = types.MessageType.Info) -> None:
        try:
            self.client.window_log_message(types.LogMessageParams(type=kind, message=text))
        except Exception:  # no writer yet (unit tests) or the client went away
            log.info("%s", text)

    def log_warning(self, text: str) -> None:
        log.warning("%s", text)
        self.log_to_client(text, types.MessageType.Warning)

    def log_error(self, text: str) -> None:
        self.log_to_client(text, types.MessageType.Error)

    def show_error(self, text: str) -> None:
        log.error("%s", text)
        try:
            self.client.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=text))
        except Exception:
            pass  # the client is gone: the error is in the log already

    # --- initialize, configuration, shutdown -----------------------------------------

    def initialize(self, params: types.InitializeParams) -> None:
        self.loop = asyncio.get_running_loop()
        self.engine_ready = asyncio.Event()
        self.support = ClientSupport.of(params.capabilities)
        self.root = _workspace_root(params)
        self.documents = Documents(self.root, self.client.workspace)
        self.encoding = normalise_encoding(self.client.workspace.position_encoding)
        self.publisher = self._publisher(pull=self.support.pull_diagnostics)
        self.settings, warnings = settings_mod.merge_settings(
            self.settings, params.initialization_options, "initializationOptions"
        )
        self.pending_warnings.extend(warnings)
        folders = params.workspace_folders or []
        if len(folders) > 1:
            self.pending_warnings.append(
                f"refute serves one workspace folder per server; using {self.root} "
                f"(of {len(folders)} folders)"
            )

    async def initialized(self) -> None:
        for warning in self.pending_warnings:
            self.log_warning(warning)
        self.pending_warnings.clear()
        await self.fetch_configuration()
        await self.start_engine()

    def merge_settings(self, values: Any, origin: str) -> bool:
        """Merge settings from the client; True if anything changed."""
        before = self.settings
        self.settings, warnings = settings_mod.merge_settings(self.settings, values, origin)
        for warning in warnings:
            self.log_warning(warning)
        return self.settings != before

    async def fetch_configuration(self) -> bool:
        """Merge `workspace/configuration` (section "refute"); True if anything changed."""
        if not self.support.configuration:
            return False
        try:
            result = await asyncio.wait_for(
                self.client.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section=settings_mod.SECTION)])
                ),
                timeout=5,
            )
        except Exception as exc:
            self.log_warning(f"refute: workspace/configuration failed: {message(exc)}")
            return False
        values = result[0] if result else None
        if values is None:
            return False
        return self.merge_settings(values, "workspace/configuration")

    async def shutdown(self) -> None:
        self.publisher.cancel_all()
        await self.call(self._stop_following)
        if self._unsubscribe:
            try:
                self._unsubscribe()
            except Exception:
                pass  # shutting down: a subscriber that cannot be removed goes with the engine
        engine, self.engine = self.engine, None
        if engine is not None:
            try:
                await asyncio.wait_for(self.call(engine.close), timeout=10)
            except Exception as exc:
                log.error("engine close failed: %s", exc)

    def stop_executor(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    # --- the engine -----------------------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call on the session's pool and await it from the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    @property
    def engine_started(self) -> bool:
        return self.engine_ready is not None and self.engine_ready.is_set() and self.engine is not None

    async def get_engine(self) -> Any:
        if self.engine_ready is None:
            raise EngineUnavailable("the server is not initialized yet")
        await self.engine_ready.wait()
        if self.engine is None:
            raise EngineUnavailable(f"refute engine could not start: {self.engine_error}")
        return self.engine

    async def engine_call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call `engine.<method>` off the loop; a refusal becomes an LSP error with the
        engine's own words, anything else an internal error (errors.py)."""
        engine = await self.get_engine()
        try:
            return await self.call(getattr(engine, method), *args, **kwargs)
        except Exception as exc:
            raise to_lsp_error(method, exc, self.log_error) from exc

    async def start_engine(self) -> None:
        """Create the engine (off the loop), subscribe to its events, load the findings
        of earlier runs. A failure is shown to the person; the server stays up."""
        assert self.engine_ready is not None and self.root is not None
        try:
            self.engine = await self.call(self.engine_factory, self.root, self.settings)
            self._unsubscribe = self.engine.subscribe(self.post_event)
            self._follow_other_runs(self.engine)
        except Exception as exc:
            self.engine = None
            self.engine_error = message(exc)
            log.error("engine failed to start:\n%s", traceback.format_exc())
            self.show_error(f"refute: the engine could not start: {self.engine_error}")
        finally:
            self.engine_ready.set()
        if self.engine is not None:
            await self.load_findings()
            await self.load_proposed_edits()

    def _follow_other_runs(self, engine: Any) -> None:
        store = getattr(engine, "store", None)
        if store is None or not hasattr(engine, "active_runs"):
            return  # a test double without a run store
        from refute.orchestration.store.run_tail import RunLogTail  # with the engine, not at startup

        self._tail = RunLogTail(store, lambda raw: self.post_event(RunEvent.from_dict(raw)),  # typed like the engine's
                                is_local=lambda run_id: run_id in engine.active_runs()).start()

    def _stop_following(self) -> None:
        tail, self._tail = self._tail, None
        if tail is not None:
            tail.close()

    async def restart_engine(self) -> None:
        """New settings take effect on a new engine; only done when no run is active."""
        old = self.engine
        if old is None:
            return
        if self._unsubscribe:
            self._unsubscribe()
        await self.call(self._stop_following)
        self.engine = None
        self.engine_ready = asyncio.Event()
        await self.call(old.close)
        await self.start_engine()

    # --- findings and proposed edits ---------------------------------------------------

    async def load_proposed_edits(self) -> None:
        """Proposed edits of earlier runs, so the file's source action offers them."""
        try:
            edits = await self.engine_call("edits")
        except Exception as exc:
            self.log_warning(f"refute: could not load proposed edits: {message(exc)}")
            return
        for edit in edits:
            if edit.state == "proposed":
                self.proposed_edits.add(edit.path, edit.run_id)

    async def load_findings(self, path: str | None = None) -> None:
        """Merge the engine's stored findings (of one file, or all) into the index.

        The store is read off the loop while run events keep arriving, so the answer can
        be older than the index: anything that changed in the index since the read
        started (a live event) wins, and only findings untouched since then are dropped
        when the store no longer has them (dismissed from the CLI, say)."""
        before = {t.finding.fingerprint: t for t in (self.findings.in_file(path) if path else self.findings.all())}
        try:
            found: list[Finding] = await self.engine_call("findings", path=path) if path else await self.engine_call("findings")
        except Exception as exc:
            self.log_warning(f"refute: could not load findings of earlier runs: {message(exc)}")
            return
        touched: set[str] = set()
        wanted = {f.fingerprint for f in found}
        for fingerprint, tracked in before.items():
            if fingerprint not in wanted and self.findings.get(fingerprint) is tracked:
                self.findings.remove(fingerprint)
                touched.add(tracked.finding.path)
        for finding in found:
            current = self.findings.get(finding.fingerprint)
            if current is not None and current is not before.get(finding.fingerprint):
                continue  # a live event replaced it while the store was being read
            self.add_finding(finding, publish=False)
            touched.add(finding.path)
        for p in touched:
            self.publisher.schedule(p, delay=0)

    def add_finding(self, finding: Finding, publish: bool = True) -> None:
        if finding.review_state in _HIDDEN_STATES:
            # A run that finds a dismissed finding again reports it as dismissed: keep it hidden.
            if self.findings.remove(finding.fingerprint) is not None and publish:
                self.publisher.schedule(finding.path)
            return
        opened = self.documents.open_text(finding.path)
        tracked = self.findings.add(finding, opened[0] if opened else None)
        if opened is None and finding.review_state == "stale":
            tracked.span = None  # the engine found its quote gone from the file on disk
        if publish:
            self.publisher.schedule(finding.path)

    # --- runs this server starts --------------------------------------------------------

    def announce_run(self, run_id: str, workflow: str = "", planned_calls: int | None = None) -> None:
        """A run this server started or resumed (a command): the run trackers hear of it
        with what only the command knows (its workflow, the plan's calls)."""
        for listener in list(self.run_listeners):
            listener(run_id, workflow, planned_calls)

    def text_changed(self, path: str, text: str, immediate: bool) -> None:
        for listener in list(self.text_listeners):
            listener(path, text, immediate)

    # --- events from engine threads -------------------------------------------------

    def post_event(self, event: RunEvent) -> None:
        """Engine subscriber: called on an engine thread, hands the event to the loop.

        Events are queued and drained in batches with a time budget per loop turn, so a
        run streaming thousands of events cannot starve a hover waiting behind them."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        if event.type in _IGNORED_EVENTS:
            return
        with self._events_lock:
            self._events.append(event)
            if self._drain_scheduled:
                return
            self._drain_scheduled = True
        try:
            loop.call_soon_threadsafe(self._drain_events)
        except RuntimeError:  # loop closed while shutting down
            pass

    def _drain_events(self) -> None:
        deadline = time.perf_counter() + EVENT_BUDGET_S
        while True:
            with self._events_lock:
                if not self._events:
                    self._drain_scheduled = False
                    return
                event = self._events.popleft()
            self.dispatch_event(event)
            if time.perf_counter() > deadline:
                # Let I/O (the client's next request) in before the rest.
                asyncio.get_running_loop().call_later(BACKGROUND_YIELD_S, self._drain_events)
                return

    def dispatch_event(self, event: RunEvent) -> None:
        try:
            if event.type == "finding":
                raw = event.data.get("finding")
                if isinstance(raw, dict):
                    self.add_finding(Finding.from_dict(raw))
            elif event.type == "edit_proposed":
                raw = event.data.get("edit") or {}
                if isinstance(raw, dict) and isinstance(raw.get("path"), str):
                    self.proposed_edits.add(raw["path"], str(raw.get("run_id") or event.run_id))
            for listener in list(self.event_listeners):
                listener(event)
        except Exception:
            # A malformed event must not stop the stream of later ones.
            log.error("bad engine event %r:\n%s", event, traceback.format_exc())


def _workspace_root(params: types.InitializeParams) -> Path:
    uri = None
    if params.workspace_folders:
        uri = params.workspace_folders[0].uri
    elif params.root_uri:
        uri = params.root_uri
    if uri:
        fs = to_fs_path(uri)
        if fs:
            return Path(fs).resolve()
    if params.root_path:
        return Path(params.root_path).resolve()
    return Path.cwd().resolve()
