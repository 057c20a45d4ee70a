"""Unified diffs of a run's proposed edits against the files as they are now.

`refute apply RUN --diff` prints these before anything is written. A file is diffed only
when `EditsStore.apply(write=False)` says the edit can still be applied (the file's bytes
are unchanged since the proposal); otherwise the refusal is shown instead of a diff that
would describe a file that no longer exists in that form.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterable

from refute.orchestration.verification.edits import ABSENT
from refute.orchestration.model import ProposedEdit


def unified_diff(path: str, old_text: str | None, new_text: str) -> str:
    """A `git diff`-style unified diff (a/PATH, b/PATH, 3 lines of context)."""
    old_lines = (old_text or "").splitlines(keepends=True)
    new_lines = new_text.splitlines(keepends=True)
    fromfile = "/dev/null" if old_text is None else f"a/{path}"
    out = []
    for line in difflib.unified_diff(old_lines, new_lines, fromfile=fromfile, tofile=f"b/{path}"):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def edit_diffs(workspace: Path, edits: Iterable[ProposedEdit], checks: Iterable[Any]) -> list[dict[str, Any]]:
    """[{path, ok, diff, message}] per edit, in the order of `checks` (ApplyOutcome of a
    dry run: ok means the file is unchanged since the proposal)."""
    by_id = {edit.id: edit for edit in edits}
    out = []
    for check in checks:
        edit = by_id.get(check.edit_id)
        if not check.ok or edit is None:
            out.append({"path": check.path, "ok": False, "diff": "", "message": check.message})
            continue
        absolute = Path(workspace) / edit.path
        current = None if edit.base_hash == ABSENT else absolute.read_text(encoding="utf-8")
        out.append({"path": edit.path, "ok": True, "diff": unified_diff(edit.path, current, edit.new_text),
                    "message": check.message})
    return out


__all__ = ["edit_diffs", "unified_diff"]
