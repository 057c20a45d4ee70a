"""Pull diagnostics (`textDocument/diagnostic`) for clients that ask for them and can be
told to refresh; registered during `initialize` only for such clients (see
diagnostics.py for why a client gets either push or pull, never both)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from .server import RefuteLanguageServer


def register_pull(server: "RefuteLanguageServer") -> None:
    if types.TEXT_DOCUMENT_DIAGNOSTIC in server.protocol.fm.features:
        return

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(identifier="refute", inter_file_dependencies=False, workspace_diagnostics=False),
    )
    def document_diagnostic(ls: "RefuteLanguageServer", params: types.DocumentDiagnosticParams):
        path = ls.documents.path(params.text_document.uri)
        items = ls.publisher.diagnostics_for(path) if path is not None else []
        return types.RelatedFullDocumentDiagnosticReport(items=items)
