"""Code actions on refute diagnostics: apply the fix (a quickfix computed from the
diagnostic's `data` and the current buffer), dismiss, show evidence, re-verify; and a
source action that applies every proposed edit of the file.

Everything needed comes from the diagnostic payload and the open buffer, so this
answers in microseconds and never waits on the engine.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from refute.orchestration.model import Span

from .diagnostics import SOURCE
from .positions import range_to_span
from .session import Session
from .workspace_edit import fix_edit, workspace_edit

APPLY_EDITS_KIND = "source.refute.applyEdits"
DISMISS_REASON = "dismissed from the editor"


def actions_for_diagnostic(
    diag: types.Diagnostic,
    uri: str,
    text: str | None,
    version: int | None,
    encoding: str,
    document_changes: bool,
) -> list[types.CodeAction]:
    data: Any = diag.data
    if diag.source != SOURCE or not isinstance(data, dict) or not isinstance(data.get("fingerprint"), str):
        return []
    fp = data["fingerprint"]
    title = str(data.get("title") or diag.message)
    actions: list[types.CodeAction] = []
    fix = data.get("fix")
    if isinstance(fix, dict) and isinstance(fix.get("oldText"), str) and isinstance(fix.get("newText"), str) and text is not None:
        lines = text.split("\n")
        near: Span = range_to_span(diag.range, lines, encoding)
        edit = fix_edit(text, fix["oldText"], fix["newText"], near, encoding)
        if edit is not None:
            actions.append(
                types.CodeAction(
                    title=f"refute: apply fix: {title}",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diag],
                    is_preferred=True,
                    edit=workspace_edit(uri, [edit], version=version, document_changes=document_changes),
                )
            )
    actions.append(
        types.CodeAction(
            title=f"refute: dismiss: {title}",
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[diag],
            command=types.Command(
                title="Dismiss finding", command="refute.dismiss",
                arguments=[{"fingerprint": fp, "reason": DISMISS_REASON}],
            ),
        )
    )
    actions.append(
        types.CodeAction(
            title=f"refute: show evidence: {title}",  # named: several findings can share a line
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[diag],
            command=types.Command(title=f"Show evidence: {title}", command="refute.showEvidence", arguments=[{"fingerprint": fp}]),
        )
    )
    actions.append(
        types.CodeAction(
            title=f"refute: re-verify: {title}",
            kind=types.CodeActionKind.QuickFix,
            diagnostics=[diag],
            command=types.Command(title=f"Re-verify: {title}", command="refute.reverify", arguments=[{"fingerprint": fp}]),
        )
    )
    return actions


def _wanted(only: list[str] | None, kind: str) -> bool:
    if not only:
        return True
    return any(kind == k or kind.startswith(k + ".") for k in only)


def register(server: LanguageServer, session: Session) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.Source, APPLY_EDITS_KIND]
        ),
    )
    def code_action(params: types.CodeActionParams) -> list[types.CodeAction] | None:
        uri = params.text_document.uri
        doc = server.workspace.text_documents.get(uri)
        text = doc.source if doc is not None else None
        version = doc.version if doc is not None else None
        document_changes = session.support.document_changes
        only = [str(getattr(k, "value", k)) for k in (params.context.only or [])] or None
        actions: list[types.CodeAction] = []
        if _wanted(only, types.CodeActionKind.QuickFix.value):
            for diag in params.context.diagnostics:
                actions.extend(actions_for_diagnostic(diag, uri, text, version, session.encoding, document_changes))
        path = session.documents.path(uri)
        if path is not None and _wanted(only, APPLY_EDITS_KIND):
            for run_id in session.proposed_edits.runs(path):
                actions.append(
                    types.CodeAction(
                        title=f"refute: apply the proposed edits of run {run_id} to this file",
                        kind=APPLY_EDITS_KIND,
                        command=types.Command(
                            title="Apply proposed edits", command="refute.applyEdits",
                            arguments=[{"runId": run_id, "path": path}],
                        ),
                    )
                )
        return actions or None
