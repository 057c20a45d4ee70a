"""Pull diagnostics for clients that ask for them and can be told to refresh; registered
during `initialize` only for such clients (see diagnostics.py for why a client gets
either push or pull, never both).

- `textDocument/diagnostic`: one file (VS Code asks for open files).
- `workspace/diagnostic`: every file with findings, open or not, so a workspace audit
  fills the Problems panel without opening anything. VS Code's client repeats this
  request 2 s after each answer, sending the resultIds it holds: a file whose
  diagnostics did not change since gets an "unchanged" report (no disk read, no
  re-conversion), one that lost its findings gets an empty full report once.
  Measured (bench/editor_feeds.py, 2 cores, 300 files with findings): 0.4 ms for a poll
  where nothing changed, 15-20 ms for a full report of all 300 files.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .diagnostics import Publisher
from .session import Session


def workspace_report(publisher: Publisher, params: types.WorkspaceDiagnosticParams) -> types.WorkspaceDiagnosticReport:
    known = {prev.uri: prev.value for prev in params.previous_result_ids or []}
    items: list[types.WorkspaceFullDocumentDiagnosticReport | types.WorkspaceUnchangedDocumentDiagnosticReport] = []
    for path in publisher.workspace_paths():
        uri = publisher.documents.uri(path)
        result_id = publisher.result_id(path)
        if known.get(uri) == result_id:
            items.append(types.WorkspaceUnchangedDocumentDiagnosticReport(uri=uri, version=None, result_id=result_id))
            continue
        items.append(types.WorkspaceFullDocumentDiagnosticReport(
            uri=uri, version=None, items=publisher.diagnostics_for(path), result_id=result_id))
    return types.WorkspaceDiagnosticReport(items=items)


def register(server: LanguageServer, session: Session) -> None:
    """Called from `initialize` for a client that supports pull diagnostics and refresh."""
    if types.TEXT_DOCUMENT_DIAGNOSTIC in server.protocol.fm.features:
        return

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(identifier="refute", inter_file_dependencies=False, workspace_diagnostics=True),
    )
    def document_diagnostic(params: types.DocumentDiagnosticParams):
        path = session.documents.path(params.text_document.uri)
        items = session.publisher.diagnostics_for(path) if path is not None else []
        return types.RelatedFullDocumentDiagnosticReport(items=items)

    @server.feature(types.WORKSPACE_DIAGNOSTIC)
    def workspace_diagnostic(params: types.WorkspaceDiagnosticParams):
        return workspace_report(session.publisher, params)
