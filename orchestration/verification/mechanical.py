"""The mechanical check of a proposed file edit, run before any reviewer is paid.

`check_edit(workspace, path, replacements)` answers, for one file and its list of
old -> new replacements:
1. every replacement applies exactly once (edits.compose_replacements: the one
   anchoring rule, exact first, else whitespace-insensitive);
2. the file's replacements compose: each applies to the text the previous one left,
   which is exactly how EditsStore.propose stores them;
3. the edited file parses with tree-sitter with no error node it did not already have
   (analysis.syntax.new_syntax_errors).
The answer is a dict a workflow script can read: {"ok", "problem", "stage", "path",
"language", "syntax_checked"}; on success it also carries "new_text" (the composed file).
`problem` is written for the editor agent: it is what goes back to it on a retry.

It never raises for a bad edit (a script would have to catch it); it raises only when the
path itself is unusable (outside the workspace, a secret, not a text file), the same
refusals `propose_edit` makes.

Why before reviewers: a replacement that does not apply, or an edit that leaves the file
unparseable, is wrong whatever a reviewer thinks; checking costs a parse (milliseconds),
reviewing costs two model calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from refute.analysis import languages
from refute.analysis.syntax import can_check, describe_problems, new_syntax_errors
from refute.orchestration.verification.edits import EditError, compose_replacements
from refute.orchestration.verification.findings import WorkspaceFileError, read_text_file, resolve_in_workspace
from refute.orchestration.calls.redaction import is_secret_path


def check_edit(workspace: Path, path: str, replacements: Sequence[dict[str, Any]]) -> dict[str, Any]:
    try:
        absolute, rel = resolve_in_workspace(Path(workspace), str(path))
    except WorkspaceFileError as exc:
        raise EditError(f"check_edit: {exc}") from None
    if is_secret_path(rel):
        raise EditError(f"check_edit: {rel} is a secret file (never shown to a model)")
    if not absolute.is_file():
        raise EditError(f"check_edit: {rel}: no such file")
    try:
        before = read_text_file(absolute, rel)
    except WorkspaceFileError as exc:
        raise EditError(f"check_edit: {exc}") from None
    first_line = before.split("\n", 1)[0]
    language = languages.detect(rel, first_line)
    result: dict[str, Any] = {"path": rel, "language": language, "syntax_checked": can_check(language)}
    if not isinstance(replacements, (list, tuple)) or not replacements:
        return {**result, "ok": False, "stage": "apply",
                "problem": "no replacements given: propose at least one {old, new} pair, or answer changed=false"}
    try:
        after = compose_replacements(before, list(replacements), rel)
    except EditError as exc:
        return {**result, "ok": False, "stage": "apply", "problem": str(exc)}
    new_errors = new_syntax_errors(before, after, language)
    if new_errors:
        return {**result, "ok": False, "stage": "parse",
                "problem": f"{rel} no longer parses as {language} after the edits: {describe_problems(new_errors)}"}
    return {**result, "ok": True, "stage": "done", "problem": None, "new_text": after}


__all__ = ["check_edit"]
