"""Turning proposed changes into LSP `WorkspaceEdit`s.

A proposed edit is a whole new file text; sending it as one replace-everything edit
would move the person's cursor and folds, so it becomes line-level edits of the
changed hunks only. A finding's fix is one `old_text -> new_text` replacement, anchored
in the current buffer near the diagnostic. A migration's edits can go as one previewed
edit (`preview_workspace_edit`): every change annotated as needing confirmation.
"""

from __future__ import annotations

import difflib
import re

from lsprotocol import types

from refute.orchestration.model import Span

from .findings_index import anchor_near
from .positions import span_to_range, to_client_column


def _lines(text: str) -> list[str]:
    # Split at "\n" only (str.splitlines also splits at \x0c, \u2028, ... which LSP
    # clients do not count as line breaks, so line numbers would drift).
    return [line for line in re.split(r"(?<=\n)", text) if line]


def _position_at(old_lines: list[str], index: int, encoding: str) -> types.Position:
    """Client position of the start of old line `index` (or of the end of the text)."""
    if index < len(old_lines):
        return types.Position(index, 0)
    if not old_lines:
        return types.Position(0, 0)
    last = old_lines[-1]
    if last.endswith("\n"):
        return types.Position(len(old_lines), 0)
    return types.Position(len(old_lines) - 1, to_client_column(last, len(last), encoding))


def diff_edits(old: str, new: str, encoding: str) -> list[types.TextEdit]:
    """Minimal line-level edits that turn `old` into `new`. Each hunk replaces whole old
    lines (with their endings) by whole new lines, so the result is exactly `new`."""
    old_lines = _lines(old)
    new_lines = _lines(new)
    edits: list[types.TextEdit] = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        rng = types.Range(_position_at(old_lines, i1, encoding), _position_at(old_lines, i2, encoding))
        edits.append(types.TextEdit(range=rng, new_text="".join(new_lines[j1:j2])))
    return edits


def apply_text_edits(text: str, edits: list[types.TextEdit], encoding: str) -> str:
    """Apply LSP text edits to `text` (as a client would); used by tests and the bench
    to check what a workspace edit really does."""
    from .positions import from_client_column

    lines = text.split("\n")

    def offset(pos: types.Position) -> int:
        if pos.line >= len(lines):
            return len(text)
        base = sum(len(line) + 1 for line in lines[: pos.line])
        return base + from_client_column(lines[pos.line], pos.character, encoding)

    spans = sorted(((offset(e.range.start), offset(e.range.end), e.new_text) for e in edits), reverse=True)
    for start, end, new_text in spans:
        text = text[:start] + new_text + text[end:]
    return text


def fix_edit(text: str, old_text: str, new_text: str, near: Span | None, encoding: str) -> types.TextEdit | None:
    """The fix as one edit in the current text, or None if `old_text` is not there."""
    span = anchor_near(text, old_text, near)
    if span is None:
        return None
    return types.TextEdit(range=span_to_range(span, text.split("\n"), encoding), new_text=new_text)


def workspace_edit(
    uri: str,
    edits: list[types.TextEdit],
    *,
    version: int | None,
    document_changes: bool,
    create: bool = False,
) -> types.WorkspaceEdit:
    """`documentChanges` when the client supports it (versioned: the client refuses the
    edit if the buffer moved on), else the plain `changes` map."""
    if document_changes:
        changes: list = []
        if create:
            changes.append(types.CreateFile(uri=uri, options=types.CreateFileOptions(ignore_if_exists=True)))
        changes.append(
            types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                edits=edits,
            )
        )
        return types.WorkspaceEdit(document_changes=changes)
    return types.WorkspaceEdit(changes={uri: edits})


PREVIEW_ANNOTATION_PREFIX = "refute-edit:"


def preview_workspace_edit(files: list[dict]) -> types.WorkspaceEdit:
    """One WorkspaceEdit for several files whose every change carries a change annotation
    that needs confirmation, so the client previews before it writes (VS Code opens its
    refactor preview, where each file can be unchecked). `files`: dicts with uri, edits
    (TextEdit), version, create, label, description."""
    changes: list = []
    annotations: dict[str, types.ChangeAnnotation] = {}
    for index, item in enumerate(files):
        annotation_id = f"{PREVIEW_ANNOTATION_PREFIX}{index}"
        annotations[annotation_id] = types.ChangeAnnotation(
            label=item["label"], needs_confirmation=True, description=item.get("description") or None)
        if item.get("create"):
            changes.append(types.CreateFile(uri=item["uri"], options=types.CreateFileOptions(ignore_if_exists=True),
                                            annotation_id=annotation_id))
        changes.append(types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=item["uri"], version=item.get("version")),
            edits=[types.AnnotatedTextEdit(range=e.range, new_text=e.new_text, annotation_id=annotation_id)
                   for e in item["edits"]],
        ))
    return types.WorkspaceEdit(document_changes=changes, change_annotations=annotations)
