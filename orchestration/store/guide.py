"""The migration guide kept with a run: `.refute/state/runs/<run>/guide.md`.

A migration's survey phase writes what it found (call sites, types, idioms, the
conventions the result must follow) here, before any file is edited, so a person can read
and edit it: `refute run migrate ... --guide FILE` starts a run with FILE copied here
instead of surveying again. Every editor and reviewer gets the guide as the shared,
cached context of its call (agent(context=guide)), so it is paid for once per run and
read from the prompt cache after.

Plain Markdown, at most MAX_GUIDE_CHARS characters (a guide is a shared prefix of every
call: a longer one costs on each of them and crowds the file out of the window).
"""

from __future__ import annotations

import os
from pathlib import Path

from refute.orchestration.errors import InvalidInput

GUIDE_FILE = "guide.md"
MAX_GUIDE_CHARS = 60_000


class GuideError(InvalidInput):
    """A guide that cannot be used (unreadable, empty, too long)."""


def guide_path(state_dir: Path, run_id: str) -> Path:
    return Path(state_dir) / "runs" / run_id / GUIDE_FILE


def check_guide(text: str, source: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise GuideError(f"{source}: the guide is empty; write what every editor must follow, or drop --guide")
    if len(text) > MAX_GUIDE_CHARS:
        raise GuideError(f"{source}: the guide has {len(text):,} characters; keep it under {MAX_GUIDE_CHARS:,} "
                         "(it is sent with every editor and reviewer call)")
    return text


def read_guide_file(path: Path) -> str:
    """A guide a person wrote or edited (`--guide FILE`), checked."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GuideError(f"--guide {path}: cannot read it ({exc})") from None
    return check_guide(text, f"--guide {path}")


def load(state_dir: Path, run_id: str) -> str | None:
    path = guide_path(state_dir, run_id)
    return path.read_text(encoding="utf-8") if path.exists() else None


def save(state_dir: Path, run_id: str, text: str) -> Path:
    check_guide(text, "save_guide")
    path = guide_path(state_dir, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


__all__ = ["GUIDE_FILE", "GuideError", "check_guide", "guide_path", "load", "read_guide_file", "save"]
