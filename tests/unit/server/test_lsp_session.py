"""The session reads the client's capabilities once, at initialize."""

from lsprotocol import types

from refute.server.lsp.session import ClientSupport


def test_client_support_reads_each_capability():
    caps = types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=True,
                                              show_document=types.ShowDocumentClientCapabilities(support=True)),
        workspace=types.WorkspaceClientCapabilities(
            configuration=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(
                document_changes=True, resource_operations=[types.ResourceOperationKind.Create],
                change_annotation_support=types.ChangeAnnotationsSupportOptions(groups_on_label=True)),
            diagnostics=types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)),
        text_document=types.TextDocumentClientCapabilities(
            hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.PlainText]),
            diagnostic=types.DiagnosticClientCapabilities()),
    )
    assert ClientSupport.of(caps) == ClientSupport(
        work_done_progress=True, show_document=True, configuration=True, document_changes=True,
        change_annotations=True, create_files=True, markdown_hover=False, pull_diagnostics=True)


def test_a_client_that_says_nothing_gets_the_defaults():
    assert ClientSupport.of(types.ClientCapabilities()) == ClientSupport()
    # Pull diagnostics need the refresh request too: without it the client gets push.
    caps = types.ClientCapabilities(text_document=types.TextDocumentClientCapabilities(
        diagnostic=types.DiagnosticClientCapabilities()))
    assert not ClientSupport.of(caps).pull_diagnostics
