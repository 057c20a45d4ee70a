"""Lifecycle and document sync: initialize, settings, open/change/close, shutdown.

On every change the file's findings are re-anchored by quote against the buffer text
and its diagnostics re-published (debounced); on open, the findings of earlier runs
for that file are fetched from the engine (another process may have produced them).

Settings take effect on a new engine: at once when no run is active, else when the last
active run ends (the run tracker tells this module; it owns the "restart pending" flag).
"""

from __future__ import annotations

import asyncio

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import pull_diagnostics
from .progress import RunTracker
from .session import Session


class SettingsRestart:
    """Restarts the engine for new settings, now or once no run is active."""

    def __init__(self, session: Session, runs: RunTracker):
        self.session = session
        self.runs = runs
        self.pending = False
        runs.idle_listeners.append(self._on_idle)

    async def apply(self) -> None:
        if self.session.engine is None:
            return
        if self.runs.active():
            self.session.log_to_client("refute: settings changed; they apply to new runs after the active runs finish")
            self.pending = True
            return
        await self.session.restart_engine()
        self.session.log_to_client("refute: settings applied")

    def _on_idle(self) -> None:
        if self.pending:
            self.pending = False
            asyncio.ensure_future(self.session.restart_engine())


def register(server: LanguageServer, session: Session, runs: RunTracker) -> None:
    restart = SettingsRestart(session, runs)

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        session.initialize(params)
        if session.support.pull_diagnostics:
            pull_diagnostics.register(server, session)

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        await session.initialized()

    @server.feature(types.SHUTDOWN)
    async def shutdown(params: None) -> None:
        await session.shutdown()
        runs.end_all("server shut down")

    @server.feature(types.EXIT)
    def exit_(params: None) -> None:
        session.stop_executor()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(params: types.DidOpenTextDocumentParams) -> None:
        path = session.documents.path(params.text_document.uri)
        if path is None:
            return
        if session.findings.reanchor(path, params.text_document.text) or session.findings.in_file(path):
            session.publisher.schedule(path, delay=0)
        session.text_changed(path, params.text_document.text, True)
        if session.engine_started:
            await session.load_findings(path)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        path = session.documents.path(params.text_document.uri)
        if path is None:
            return
        text = server.workspace.get_text_document(params.text_document.uri).source
        if session.findings.reanchor(path, text):
            session.publisher.schedule(path)
        session.text_changed(path, text, False)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        path = session.documents.path(params.text_document.uri)
        if path is None:
            return
        # Unsaved changes are gone with the buffer: anchor against the file on disk.
        text = session.documents.disk_text(path)
        if text is not None and session.findings.reanchor(path, text):
            session.publisher.schedule(path)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict) and isinstance(settings.get("refute"), dict):
            changed = session.merge_settings(settings["refute"], "didChangeConfiguration")
        else:
            changed = await session.fetch_configuration()
        if changed:
            await restart.apply()
