"""What changed since a git ref: the files, and in each the changed lines.

`refute run audit --since origin/main` (the pre-merge and CI case) audits only these:
files added or modified since REF (committed, staged, unstaged, or untracked and not
ignored), and in a modified file only the work units that overlap a changed line. A
deletion counts as a change of the line it happened at, so the unit that lost code is
looked at again. Deleted files have nothing left to audit.

Contract: `changed_since(root, ref) -> dict[path, list[(start, end)]]`, workspace-relative
POSIX paths, 0-based inclusive line ranges; a new file maps to `WHOLE_FILE`. Raises
`ChangesError` with a message that says what to do (not a git work tree; unknown ref).
Reads git through `git diff --unified=0` (one process for the whole diff) and
`git ls-files --others --exclude-standard`; never writes to the repository.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from refute.analysis.git import run_git

WHOLE_FILE = [(0, 1 << 31)]
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
_GIT_TIMEOUT_S = 60


class ChangesError(ValueError):
    """--since cannot be answered (no git, not a work tree, unknown ref)."""


def _git(root: Path, *args: str) -> str:
    # Through analysis/git.py: the workspace's own git config never runs a command here.
    try:
        done = run_git(root, ["-c", "core.quotepath=false", *args], timeout=_GIT_TIMEOUT_S)
    except TimeoutError:
        raise ChangesError(f"git {args[0]} took more than {_GIT_TIMEOUT_S} s") from None
    except OSError:
        raise ChangesError("--since needs git on PATH") from None
    stderr = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        raise ChangesError(stderr.splitlines()[-1] if stderr else f"git {args[0]} failed")
    return done.stdout.decode("utf-8", "surrogateescape")


def _unquote(path: str) -> str:
    if len(path) >= 2 and path[0] == path[-1] == '"':
        return path[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape").encode(
            "latin-1").decode("utf-8", "replace")
    return path


def changed_since(root: str | os.PathLike[str], ref: str) -> dict[str, list[tuple[int, int]]]:
    """Files changed since `ref` and their changed line ranges (see the module docstring)."""
    root_path = Path(root).resolve()
    if not ref or ref.startswith("-") or any(c.isspace() for c in ref):
        raise ChangesError(f"--since needs a git ref (a branch, tag or commit), got {ref!r}")
    try:
        inside = _git(root_path, "rev-parse", "--is-inside-work-tree").strip()
    except ChangesError:
        inside = ""
    if inside != "true":
        raise ChangesError(f"--since needs a git work tree; {root_path} is not one")
    try:
        _git(root_path, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except ChangesError:
        raise ChangesError(f"--since {ref}: git knows no such commit, branch or tag here "
                           "(fetch it first, e.g. git fetch origin main)") from None
    diff = _git(root_path, "diff", "--unified=0", "--no-color", "--no-ext-diff", "--no-renames",
                "--relative", ref, "--", ".")
    changes: dict[str, list[tuple[int, int]]] = {}
    current: str | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            target = _unquote(line[4:].rstrip("\t"))
            current = None if target == "/dev/null" else target[2:] if target.startswith("b/") else target
            if current is not None:
                changes.setdefault(current, [])
            continue
        if current is None:
            continue
        match = _HUNK.match(line)
        if match:
            start = int(match.group(1))
            count = 1 if match.group(2) is None else int(match.group(2))
            if count == 0:  # a pure deletion after line `start`: the code around it changed
                changes[current].append((max(start - 1, 0), max(start - 1, 0)))
            else:
                changes[current].append((start - 1, start + count - 2))
    untracked = _git(root_path, "ls-files", "--others", "--exclude-standard", "-z", "--", ".")
    for path in filter(None, untracked.split("\0")):
        changes[path] = list(WHOLE_FILE)  # ls-files and diff --relative name paths from the workspace
    return {path: ranges or list(WHOLE_FILE) for path, ranges in changes.items()}


def overlaps(ranges: list[tuple[int, int]], start_line: int, end_line: int) -> bool:
    """Whether the 0-based inclusive lines [start_line, end_line] touch any of `ranges`."""
    return any(a <= end_line and start_line <= b for a, b in ranges)
