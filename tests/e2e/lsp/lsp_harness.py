"""Driving `refute lsp` through pytest-lsp's client, as Neovim or VS Code would.

The client gets the handlers pytest-lsp lacks: `workspace/applyEdit` (applies the edit
to its open buffers and files, then sends didChange like an editor), and
`window/showMessageRequest` (answers with a preset choice), plus a recorder for
`refute/runUpdate`.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Union

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from refute.server.lsp.workspace_edit import apply_text_edits

TEMPLATE = Path(__file__).parent / "workspace"
PROFILES = ["neovim", "visual_studio_code"]
ENCODING = {"neovim": "utf-8", "visual_studio_code": "utf-16"}  # what each profile negotiates


def _fix_code_action_union(client: LanguageClient) -> None:
    """lsprotocol 2025.0.0 structures every `Command | CodeAction` that has a "command"
    key as a Command, so a CodeAction carrying a command arrives mangled. Editors tell
    them apart by the type of "command" (a string only on Command); so does this hook."""
    converter = client.protocol._converter
    union = Union[types.Command, types.CodeAction]

    def structure(obj: Any, _: type) -> Any:
        kind = types.Command if isinstance(obj.get("command"), str) else types.CodeAction
        return converter.structure(obj, kind)

    converter.register_structure_hook(union, structure)


def make_workspace(tmp_path: Path, extra_files: int = 0) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(TEMPLATE, ws)
    gen = ws / "gen"
    for i in range(extra_files):
        gen.mkdir(exist_ok=True)
        (gen / f"mod_{i:03d}.py").write_text(f"def f_{i}(x):\n    return x + {i}\n", encoding="utf-8")
    return ws


def options(**overrides: Any) -> dict[str, Any]:
    base = {
        "provider": "scripted",
        "scriptedFixture": ".refute/answers.py:answer",
        "approvalThresholdCalls": 1000,
        "approvalThresholdUsd": 1000.0,
    }
    base.update(overrides)
    return base


def uri(ws: Path, rel: str) -> str:
    return from_fs_path(str(ws / rel))


async def start(
    ws: Path,
    profile: str | types.ClientCapabilities,
    *,
    init: dict[str, Any] | None = None,
    approval: str | None = "Run",
) -> LanguageClient:
    client = make_test_lsp_client()
    _fix_code_action_union(client)
    client.run_updates: list[dict] = []  # type: ignore[misc]
    client.edit_requests: list[types.ApplyWorkspaceEditParams] = []  # type: ignore[misc]
    client.message_requests: list[types.ShowMessageRequestParams] = []  # type: ignore[misc]
    client.approval_answer = approval  # type: ignore[attr-defined]
    client.open_docs: dict[str, tuple[int, str]] = {}  # type: ignore[misc]
    client.workspace_root = ws  # type: ignore[attr-defined]
    caps = client_capabilities(profile) if isinstance(profile, str) else profile
    client.encoding = ENCODING.get(profile, "utf-16") if isinstance(profile, str) else "utf-16"  # type: ignore[attr-defined]

    @client.feature("refute/runUpdate")
    def run_update(ls: LanguageClient, params: Any) -> None:
        # pygls hands unknown notifications over as namedtuples
        client.run_updates.append(params if isinstance(params, dict) else params._asdict())

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(ls: LanguageClient, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        client.edit_requests.append(params)
        for edit_uri, edits in _edits_by_uri(params.edit):
            _apply(client, edit_uri, edits)
        return types.ApplyWorkspaceEditResult(applied=True)

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def show_message_request(ls: LanguageClient, params: types.ShowMessageRequestParams):
        client.message_requests.append(params)
        answer = client.approval_answer
        return types.MessageActionItem(title=answer) if answer else None

    await client.start_io(sys.executable, "-m", "refute.server.cli", "lsp", "--log-level", "WARNING")
    client.init_result = await client.initialize_session(  # type: ignore[attr-defined]
        types.InitializeParams(
            capabilities=caps,
            root_uri=from_fs_path(str(ws)),
            workspace_folders=[types.WorkspaceFolder(uri=from_fs_path(str(ws)), name="ws")],
            initialization_options=init if init is not None else options(),
        )
    )
    return client


def _edits_by_uri(edit: types.WorkspaceEdit):
    if edit.changes:
        yield from edit.changes.items()
    for change in edit.document_changes or []:
        if isinstance(change, types.TextDocumentEdit):
            yield change.text_document.uri, change.edits


def _apply(client: LanguageClient, edit_uri: str, edits) -> None:
    """What an editor does: change the buffer (didChange) or, for a closed file, the file."""
    if edit_uri in client.open_docs:
        version, text = client.open_docs[edit_uri]
        new_text = apply_text_edits(text, list(edits), client.encoding)
        client.open_docs[edit_uri] = (version + 1, new_text)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=edit_uri, version=version + 1),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
            )
        )
    else:
        path = Path(to_fs_path(edit_uri))
        path.write_text(apply_text_edits(path.read_text("utf-8"), list(edits), client.encoding), "utf-8")


def open_doc(client: LanguageClient, rel: str) -> str:
    ws: Path = client.workspace_root
    doc_uri = uri(ws, rel)
    text = (ws / rel).read_text("utf-8")
    client.open_docs[doc_uri] = (1, text)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=doc_uri, language_id="python", version=1, text=text)
        )
    )
    return doc_uri


def change_doc(client: LanguageClient, doc_uri: str, new_text: str) -> None:
    version, _ = client.open_docs[doc_uri]
    client.open_docs[doc_uri] = (version + 1, new_text)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=doc_uri, version=version + 1),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)],
        )
    )


async def command(client: LanguageClient, name: str, arg: Any = None) -> Any:
    args = [arg] if arg is not None else []
    return await client.workspace_execute_command_async(types.ExecuteCommandParams(command=name, arguments=args))


async def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)


def refute_diagnostics(client: LanguageClient, doc_uri: str) -> list[types.Diagnostic]:
    return [d for d in client.diagnostics.get(doc_uri, []) if d.source == "refute"]


def progress_kinds(client: LanguageClient, token: Any) -> list[str]:
    return [getattr(v, "kind", None) for v in client.progress_reports.get(token, [])]


def run_token(client: LanguageClient, run_id: str) -> str:
    for token in client.progress_reports:
        if str(token).startswith(f"refute-run-{run_id}-"):
            return token
    return ""


async def wait_run_end(client: LanguageClient, run_id: str, timeout: float = 30.0) -> str:
    """Wait for the run's progress `end`; returns the token."""
    await wait_for(lambda: run_token(client, run_id), timeout, f"progress token of run {run_id}")
    token = run_token(client, run_id)
    await wait_for(lambda: "end" in progress_kinds(client, token), timeout, f"progress end of run {run_id}")
    return token


async def stop(client: LanguageClient) -> None:
    await client.shutdown_session()
    await client.stop()
