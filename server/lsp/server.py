"""The refute language server: one pygls server, the engine it owns, the feature modules
hooked into it.

Threading (see FACTS.md, "pygls 2 pitfalls"): pygls reads stdin on its own thread pool,
so nothing here uses `@server.thread()`. Handlers run on the event loop and return in
milliseconds; anything that touches the engine's stores or plans runs on
`self.executor`, a small pool the server owns; runs execute in engine-owned threads.
Engine events arrive on engine threads and are handed to the loop with
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
from pathlib import Path
from typing import Any, Callable, TypeVar

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.exceptions import JsonRpcException, JsonRpcInternalError
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from refute.orchestration.model import Finding, RunEvent
from refute.orchestration.settings import EngineSettings

from . import settings as settings_mod
from .diagnostics import Publisher
from .documents import Documents
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

SERVER_NAME = "refute"
SERVER_VERSION = "0.1.0"


class EngineUnavailable(JsonRpcException):
    CODE = -32002  # ServerNotInitialized: the client may retry once the engine is up
    MESSAGE = "refute engine is not available"


class RequestFailed(JsonRpcException):
    CODE = -32803  # LSP ErrorCodes.RequestFailed: well-formed, but the engine refused
    MESSAGE = "refute request failed"


def _domain_errors() -> tuple[type[BaseException], ...]:
    from refute.orchestration.engine import EngineError, RunLocked
    from refute.orchestration.governance.policy import PolicyRefused
    from refute.orchestration.providers.base import ProviderError

    return (KeyError, ValueError, LookupError, PermissionError, FileNotFoundError,
            EngineError, RunLocked, ProviderError, PolicyRefused)


EngineFactory = Callable[[Path, EngineSettings], Any]


# Runs' workers at the lowest CPU priority: the editor's requests must win the cores
# (a 1,000-call run's worker otherwise doubled hover latency on a two-core machine).
WORKER_NICE = 19


def _default_engine_factory(root: Path, settings: EngineSettings) -> Any:
    from refute.orchestration.engine import Engine

    return Engine(root, settings, worker_nice=WORKER_NICE)


class RefuteLanguageServer(LanguageServer):
    def __init__(self, engine_factory: EngineFactory | None = None, base_settings: EngineSettings | None = None):
        super().__init__(SERVER_NAME, SERVER_VERSION, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.engine_factory = engine_factory or _default_engine_factory
        self.settings: EngineSettings = base_settings or EngineSettings.from_env()
        self.engine: Any = None
        self.engine_error: str | None = None
        self.engine_ready: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        # The server's own pool for engine calls: never pygls's (which reads stdin).
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="refute-lsp")
        self.root: Path | None = None
        self.documents: Documents = Documents(Path.cwd())
        self.findings = FindingIndex()
        self.publisher = Publisher(self, pull=False)
        self.encoding = "utf-16"
        self.pending_warnings: list[str] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._tail: Any = None  # RunLogTail of runs driven by other processes
        self._events: collections.deque[RunEvent] = collections.deque()
        self._events_lock = threading.Lock()
        self._drain_scheduled = False
        # Filled by feature modules at registration (progress, edits index, ...).
        self.runs: Any = None
        self.edits_by_path: dict[str, set[str]] = {}  # path -> run ids with proposed edits
        self.event_listeners: list[Callable[[RunEvent], None]] = []
        # (path, text, immediate) on open/change: workflow-script checks hook in here.
        self.text_listeners: list[Callable[[str, str, bool], None]] = []

    # --- client capabilities --------------------------------------------------------

    def client_supports(self, field: str, default: Any = False) -> Any:
        return get_capability(self.client_capabilities, field, default)

    # --- logging to the client ------------------------------------------------------

    def log_to_client(self, message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        try:
            self.window_log_message(types.LogMessageParams(type=kind, message=message))
        except Exception:  # no writer yet (unit tests) or the client went away
            log.info("%s", message)

    def log_warning(self, message: str) -> None:
        log.warning("%s", message)
        self.log_to_client(message, types.MessageType.Warning)

    def show_error(self, message: str) -> None:
        log.error("%s", message)
        try:
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=message))
        except Exception:
            pass

    # --- the engine -----------------------------------------------------------------

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call on the server's pool and await it from the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))

    async def get_engine(self) -> Any:
        if self.engine_ready is None:
            raise EngineUnavailable("the server is not initialized yet")
        await self.engine_ready.wait()
        if self.engine is None:
            raise EngineUnavailable(f"refute engine could not start: {self.engine_error}")
        return self.engine

    async def engine_call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Call `engine.<method>` off the loop; engine errors become JSON-RPC errors with
        the engine's message (never an internal error that hides it)."""
        engine = await self.get_engine()
        try:
            return await self.call(getattr(engine, method), *args, **kwargs)
        except JsonRpcException:
            raise
        except _domain_errors() as exc:
            # The engine said no (unknown run, workflow, fingerprint; locked run; provider
            # not configured): LSP's RequestFailed with the engine's own words.
            raise RequestFailed(f"refute: {method}: {_message(exc)}") from exc
        except Exception as exc:
            log.error("engine.%s failed:\n%s", method, traceback.format_exc())
            raise JsonRpcInternalError(message=f"refute: {method} failed: {_message(exc)}") from exc

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
            self.engine_error = _message(exc)
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
        from refute.orchestration.store.run_tail import RunLogTail

        self._tail = RunLogTail(store, lambda raw: self.post_event(RunEvent.from_dict(raw)),  # typed like the engine's
                                is_local=lambda run_id: run_id in engine.active_runs()).start()

    def _stop_following(self) -> None:
        tail, self._tail = self._tail, None
        if tail is not None:
            tail.close()

    async def load_proposed_edits(self) -> None:
        """Proposed edits of earlier runs, so the file's source action offers them."""
        try:
            edits = await self.engine_call("edits")
        except Exception as exc:
            self.log_warning(f"refute: could not load proposed edits: {_message(exc)}")
            return
        for edit in edits:
            if edit.state == "proposed":
                self.edits_by_path.setdefault(edit.path, set()).add(edit.run_id)

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
            self.log_warning(f"refute: could not load findings of earlier runs: {_message(exc)}")
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
                    self.edits_by_path.setdefault(raw["path"], set()).add(str(raw.get("run_id") or event.run_id))
            if self.runs is not None:
                self.runs.on_event(event)
            for listener in list(self.event_listeners):
                listener(event)
        except Exception:
            # A malformed event must not stop the stream of later ones.
            log.error("bad engine event %r:\n%s", event, traceback.format_exc())

    # --- lifecycle ------------------------------------------------------------------

    def on_initialize(self, params: types.InitializeParams) -> None:
        self.loop = asyncio.get_running_loop()
        self.engine_ready = asyncio.Event()
        self.root = _workspace_root(params)
        self.documents = Documents(self.root, self.workspace)
        self.encoding = normalise_encoding(self.workspace.position_encoding)
        pull = bool(
            self.client_supports("text_document.diagnostic", None) is not None
            and self.client_supports("workspace.diagnostics.refresh_support", False)
        )
        self.publisher = Publisher(self, pull=pull)
        if pull:
            from .pull_diagnostics import register_pull

            register_pull(self)
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

    async def on_initialized(self) -> None:
        for warning in self.pending_warnings:
            self.log_warning(warning)
        self.pending_warnings.clear()
        await self.fetch_configuration()
        await self.start_engine()

    async def fetch_configuration(self) -> bool:
        """Merge `workspace/configuration` (section "refute"); True if anything changed."""
        if not self.client_supports("workspace.configuration", False):
            return False
        try:
            result = await asyncio.wait_for(
                self.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section=settings_mod.SECTION)])
                ),
                timeout=5,
            )
        except Exception as exc:
            self.log_warning(f"refute: workspace/configuration failed: {_message(exc)}")
            return False
        values = result[0] if result else None
        if values is None:
            return False
        before = self.settings
        self.settings, warnings = settings_mod.merge_settings(self.settings, values, "workspace/configuration")
        for warning in warnings:
            self.log_warning(warning)
        return self.settings != before

    async def on_shutdown(self) -> None:
        self.publisher.cancel_all()
        await self.call(self._stop_following)
        if self._unsubscribe:
            try:
                self._unsubscribe()
            except Exception:
                pass
        engine, self.engine = self.engine, None
        if engine is not None:
            try:
                await asyncio.wait_for(self.call(engine.close), timeout=10)
            except Exception as exc:
                log.error("engine close failed: %s", exc)
        if self.runs is not None:
            self.runs.end_all("server shut down")

    def stop_executor(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


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


def _message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError) and text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    return text or type(exc).__name__


def create_server(engine_factory: EngineFactory | None = None, base_settings: EngineSettings | None = None) -> RefuteLanguageServer:
    """A server with every feature module hooked in."""
    from . import (
        code_actions,
        code_lens,
        commands,
        hover,
        lifecycle,
        progress,
        script_diagnostics,
    )

    server = RefuteLanguageServer(engine_factory, base_settings)
    for module in (lifecycle, progress, commands, code_actions, hover, code_lens, script_diagnostics):
        module.register(server)
    return server
