"""Lifecycle and document sync: initialize, settings, open/change/close, shutdown.

On every change the file's findings are re-anchored by quote against the buffer text
and its diagnostics re-published (debounced); on open, the findings of earlier runs
for that file are fetched from the engine (another process may have produced them).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from .server import RefuteLanguageServer


def register(server: "RefuteLanguageServer") -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: "RefuteLanguageServer", params: types.InitializeParams) -> None:
        ls.on_initialize(params)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: "RefuteLanguageServer", params: types.InitializedParams) -> None:
        await ls.on_initialized()

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: "RefuteLanguageServer", params: None) -> None:
        await ls.on_shutdown()

    @server.feature(types.EXIT)
    def exit_(ls: "RefuteLanguageServer", params: None) -> None:
        ls.stop_executor()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: "RefuteLanguageServer", params: types.DidOpenTextDocumentParams) -> None:
        path = ls.documents.path(params.text_document.uri)
        if path is None:
            return
        if ls.findings.reanchor(path, params.text_document.text) or ls.findings.in_file(path):
            ls.publisher.schedule(path, delay=0)
        for listener in ls.text_listeners:
            listener(path, params.text_document.text, True)
        if ls.engine_ready is not None and ls.engine_ready.is_set() and ls.engine is not None:
            await ls.load_findings(path)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: "RefuteLanguageServer", params: types.DidChangeTextDocumentParams) -> None:
        path = ls.documents.path(params.text_document.uri)
        if path is None:
            return
        text = ls.workspace.get_text_document(params.text_document.uri).source
        if ls.findings.reanchor(path, text):
            ls.publisher.schedule(path)
        for listener in ls.text_listeners:
            listener(path, text, False)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: "RefuteLanguageServer", params: types.DidCloseTextDocumentParams) -> None:
        path = ls.documents.path(params.text_document.uri)
        if path is None:
            return
        # Unsaved changes are gone with the buffer: anchor against the file on disk.
        text = ls.documents.disk_text(path)
        if text is not None and ls.findings.reanchor(path, text):
            ls.publisher.schedule(path)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: "RefuteLanguageServer", params: types.DidChangeConfigurationParams
    ) -> None:
        changed = False
        settings = params.settings
        if isinstance(settings, dict) and isinstance(settings.get("refute"), dict):
            from . import settings as settings_mod

            before = ls.settings
            ls.settings, warnings = settings_mod.merge_settings(ls.settings, settings["refute"], "didChangeConfiguration")
            for warning in warnings:
                ls.log_warning(warning)
            changed = ls.settings != before
        else:
            changed = await ls.fetch_configuration()
        if changed:
            await apply_new_settings(ls)


async def apply_new_settings(ls: "RefuteLanguageServer") -> None:
    """The engine takes settings at construction: restart it when no run is active,
    else say when the change will take effect."""
    if ls.engine is None:
        return
    if ls.runs is not None and ls.runs.active():
        ls.log_to_client("refute: settings changed; they apply to new runs after the active runs finish")
        ls.runs.restart_engine_when_idle = True
        return
    await ls.restart_engine()
    ls.log_to_client("refute: settings applied")


def schedule_restart_if_needed(ls: "RefuteLanguageServer") -> None:
    if ls.runs is not None and ls.runs.restart_engine_when_idle and not ls.runs.active():
        ls.runs.restart_engine_when_idle = False
        asyncio.ensure_future(ls.restart_engine())
