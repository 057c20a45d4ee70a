"""Proposed edits: stored, reviewed, applied only by a person and only when safe.

A workflow proposes edits (`propose_edit` in a script); nothing is written then. Each edit
remembers the sha256 of the file's bytes when it was proposed; `apply` writes a file only
if it is inside the workspace and still has exactly those bytes, so a file someone edited
since is refused, never overwritten. Writes are atomic (temp file + os.replace).

Several proposals for the same file in the same run compose into one whole-file edit
(each old_text -> replacement is applied to the previous proposal's text), so applying a
run's edits never trips over its own earlier edits.
"""

from __future__ import annotations

import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import diskcache

from refute.analysis.anchor import position_to_offset, quote_matches
from refute.analysis.paths import PathRefused, PathRule, Purpose
from refute.orchestration.verification.findings import (
    REDACTED_MARKER,
    WorkspaceFileError,
    anchor,
    atomic_write,
    read_text_file,
    resolve_in_workspace,
)
from refute.orchestration.errors import InvalidInput, NotFound
from refute.orchestration.model import ProposedEdit, Verdict, stable_hash

ABSENT = "absent"  # base_hash of an edit that creates a file: the file must still not exist


class EditError(InvalidInput):
    """An edit that cannot be proposed (bad path, text not found, no change)."""


class EditNotFound(NotFound, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "edit not found"


@dataclass
class ApplyOutcome:
    path: str
    ok: bool
    message: str
    edit_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "message": self.message, "edit_id": self.edit_id}


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class EditsStore:
    def __init__(self, workspace: Path, state_dir: Path, *, never_send: Iterable[str] = ()):
        self.workspace = Path(workspace).resolve()
        self.never_send = tuple(never_send)  # settings' extra secret globs for the path rule
        self._cache = diskcache.Cache(str(Path(state_dir) / "edits"))

    def close(self) -> None:
        self._cache.close()

    def propose(self, *, run_id: str, path: str, new_text: str | None = None, old_text: str | None = None,
                replacement: str | None = None, reason: str = "",
                reviews: Iterable[Verdict | dict[str, Any]] = (), provider: str = "") -> ProposedEdit:
        """Record a proposed edit (whole-file `new_text`, or `old_text` -> `replacement`)."""
        try:
            # SEND: a proposal may name a tool-config file (a person can apply it with
            # --allow-tool-config); never .git/, .refute/, a secret or outside.
            absolute, rel = resolve_in_workspace(self.workspace, path, purpose=Purpose.SEND,
                                                 never_send=self.never_send)
        except WorkspaceFileError as exc:
            raise EditError(f"cannot propose an edit: {exc}") from None
        if REDACTED_MARKER.search(new_text or "") or REDACTED_MARKER.search(replacement or ""):
            # The model saw "[REDACTED:kind]" where a secret is; writing the marker back
            # would destroy the secret.
            raise EditError(f"{rel}: the edit would write a redaction marker ([REDACTED:...]) into the file")
        if new_text is None and (old_text is None or replacement is None):
            raise EditError(f"{rel}: give new_text, or old_text and replacement")
        if new_text is not None and old_text is not None:
            raise EditError(f"{rel}: give either new_text or old_text/replacement, not both")
        review_list = [r if isinstance(r, Verdict) else Verdict.from_dict(r) for r in reviews]
        edit_id = stable_hash("edit/v1", run_id, rel)[:16]
        with self._cache.transact():
            existing = self._load(edit_id)
            if existing is not None and existing.state != "proposed":
                existing = None  # a new proposal after an applied one starts from the file again
            if existing is not None:
                base_hash, current = existing.base_hash, existing.new_text
            else:
                base_hash, current = self._current(absolute, rel, creating=new_text is not None)
            if new_text is not None:
                proposed = new_text
            else:
                proposed = _replace(current if current is not None else "", old_text, replacement, rel)
            if current is not None and proposed == current:
                raise EditError(f"{rel}: the edit changes nothing")
            edit = ProposedEdit(
                id=edit_id, path=rel, base_hash=base_hash, new_text=proposed,
                reason=_join_reasons(existing.reason if existing else "", reason),
                reviews=(existing.reviews if existing else []) + review_list,
                run_id=run_id, state="proposed", provider=provider,
            )
            self._cache.set(_key(edit_id), edit.to_dict())
            ids = self._cache.get(_run_key(run_id), [])
            if edit_id not in ids:
                self._cache.set(_run_key(run_id), ids + [edit_id])
        return edit

    def _current(self, absolute: Path, rel: str, *, creating: bool) -> tuple[str, str | None]:
        if not absolute.exists():
            if creating:
                return ABSENT, None
            raise EditError(f"{rel}: no such file")
        try:
            text = read_text_file(absolute, rel)
        except WorkspaceFileError as exc:
            raise EditError(f"cannot edit: {exc}") from None
        return sha256_bytes(absolute.read_bytes()), text

    def get(self, edit_id: str) -> ProposedEdit | None:
        return self._load(edit_id)

    def list(self, run_id: str | None = None, path: str | None = None) -> list[ProposedEdit]:
        if run_id is not None:
            ids = self._cache.get(_run_key(run_id), [])
        else:
            ids = [k[2:] for k in self._cache.iterkeys() if str(k).startswith("e:")]
        edits = [e for e in (self._load(i) for i in ids) if e is not None]
        if path is not None:
            want = path.replace("\\", "/").removeprefix("./")
            edits = [e for e in edits if e.path == want]
        return sorted(edits, key=lambda e: (e.run_id, e.path))

    def apply(self, run_id: str, paths: Sequence[str] | None = None, *, write: bool = True,
              allow_tool_config: Iterable[str] = ()) -> list[ApplyOutcome]:
        """Write the run's proposed edits (or only check them, with write=False). Each
        path is checked by the one path rule for WRITE at this moment (symlinks resolved
        now, not when proposed); files that run code or configure tools are refused
        unless named in `allow_tool_config`."""
        allowed = tuple(allow_tool_config)
        wanted = {p.replace("\\", "/").removeprefix("./") for p in paths} if paths else None
        outcomes: list[ApplyOutcome] = []
        edits = self.list(run_id)
        if wanted is not None:
            missing = wanted - {e.path for e in edits}
            outcomes += [ApplyOutcome(p, False, f"{p}: run {run_id} proposed no edit for this file", "")
                         for p in sorted(missing)]
            edits = [e for e in edits if e.path in wanted]
        for edit in edits:
            outcomes.append(self._apply_one(edit, write, allowed))
        return outcomes

    def _apply_one(self, edit: ProposedEdit, write: bool, allow_tool_config: tuple[str, ...] = ()) -> ApplyOutcome:
        def refuse(message: str) -> ApplyOutcome:
            return ApplyOutcome(edit.path, False, message, edit.id)

        if edit.state != "proposed":
            return refuse(f"{edit.path}: edit {edit.id} is already {edit.state}")
        if (self.workspace / edit.path).is_symlink():
            return refuse(f"refused: {edit.path} is a symlink now; edits write regular files only")
        try:
            rule = PathRule(self.workspace, never_send=self.never_send, allow_tool_config=allow_tool_config)
            admitted = rule.check(edit.path, Purpose.WRITE)
        except PathRefused as exc:
            return refuse(f"refused: {exc}")
        absolute, rel = admitted.path, admitted.rel
        if absolute.exists():
            if not absolute.is_file():
                return refuse(f"refused: {rel} is not a regular file")
            now = sha256_bytes(absolute.read_bytes())
        else:
            now = ABSENT
        if now != edit.base_hash:
            return refuse(f"refused: {rel} changed since the edit was proposed in run {edit.run_id}; "
                          "re-run the workflow to propose against the current text")
        if not write:
            return ApplyOutcome(rel, True, f"{rel}: can be applied", edit.id)
        mode = stat.S_IMODE(absolute.stat().st_mode) if absolute.exists() else None
        try:
            atomic_write(absolute, edit.new_text.encode("utf-8"), mode=mode)
        except OSError as exc:
            return refuse(f"{rel}: write failed: {exc}")
        self.mark_applied(edit.id)
        return ApplyOutcome(rel, True, f"{rel}: applied", edit.id)

    def mark_applied(self, edit_id: str) -> ProposedEdit:
        return self._set_state(edit_id, "applied")

    def mark_rejected(self, edit_id: str) -> ProposedEdit:
        return self._set_state(edit_id, "rejected")

    def _set_state(self, edit_id: str, state: str) -> ProposedEdit:
        with self._cache.transact():
            edit = self._load(edit_id)
            if edit is None:
                raise EditNotFound(f"no proposed edit {edit_id!r}")
            edit.state = state
            self._cache.set(_key(edit_id), edit.to_dict())
        return edit

    def _load(self, edit_id: str) -> ProposedEdit | None:
        data = self._cache.get(_key(edit_id))
        return ProposedEdit.from_dict(data) if data else None


def _replace(text: str, old: str, new: str, rel: str) -> str:
    """`text` with `old` replaced by `new`; `old` must occur exactly once (the one anchoring
    rule: exact matches first, else whitespace-insensitive, analysis.anchor.quote_matches)."""
    if not old:
        raise EditError(f"{rel}: old_text is empty")
    matches = quote_matches(text, old)
    if len(matches) > 1:
        raise EditError(f"{rel}: old_text occurs {len(matches)} times; quote more context so it is unique")
    if matches:
        start, end = matches[0]
        return text[:start] + new + text[end:]
    span = anchor(text, old)  # a quote carrying [REDACTED:kind] markers where the model saw a secret
    if span is None:
        raise EditError(f"{rel}: old_text not found in the current file")
    start = position_to_offset(text, span.start_line, span.start_col)
    end = position_to_offset(text, span.end_line, span.end_col)
    return text[:start] + new + text[end:]


def compose_replacements(text: str, replacements: Sequence[dict[str, Any]], rel: str) -> str:
    """The text after applying old -> new replacements one after another, each to the
    previous one's result (so a file's edits compose exactly as `propose` will store them).
    Raises EditError naming the replacement (1-based) that does not apply exactly once."""
    current = text
    for number, item in enumerate(replacements, 1):
        if not isinstance(item, dict) or not isinstance(item.get("old"), str) or not isinstance(item.get("new"), str):
            raise EditError(f"{rel}: replacement {number}: give {{'old': text, 'new': text}}")
        try:
            current = _replace(current, item["old"], item["new"], rel)
        except EditError as exc:
            raise EditError(f"replacement {number}: {exc}") from None
    if current == text:
        raise EditError(f"{rel}: the edits change nothing")
    return current


def _join_reasons(old: str, new: str) -> str:
    parts = [p for p in (old.strip(), new.strip()) if p]
    return "\n".join(dict.fromkeys(parts))


def _key(edit_id: str) -> str:
    return f"e:{edit_id}"


def _run_key(run_id: str) -> str:
    return f"run:{run_id}"


__all__ = ["ABSENT", "ApplyOutcome", "EditError", "EditsStore", "compose_replacements", "sha256_bytes"]
