"""The refute language server: creates the pygls server and its `Session`, and wires the
feature modules to both. Nothing else lives here: the state and the engine are the
session's (session.py), each feature's handlers and state are its own module's.

Features receive what they use (`register(server, session, ...)`): the run tracker that
progress.py returns goes to the features that start runs or wait for them to end.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from refute.orchestration.settings import EngineSettings

from . import code_actions, code_lens, commands, hover, lifecycle, progress, script_diagnostics
from .session import EngineFactory, Session

SERVER_NAME = "refute"
SERVER_VERSION = "0.1.0"


def create_session(engine_factory: EngineFactory | None = None,
                   base_settings: EngineSettings | None = None) -> tuple[LanguageServer, Session]:
    """A pygls server with every feature hooked in, and the session they share."""
    server = LanguageServer(SERVER_NAME, SERVER_VERSION, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
    session = Session(server, engine_factory, base_settings)
    runs = progress.register(server, session)
    lifecycle.register(server, session, runs)
    commands.register(server, session)
    for feature in (code_actions, hover, code_lens, script_diagnostics):
        feature.register(server, session)
    return server, session


def create_server(engine_factory: EngineFactory | None = None, base_settings: EngineSettings | None = None) -> LanguageServer:
    return create_session(engine_factory, base_settings)[0]
