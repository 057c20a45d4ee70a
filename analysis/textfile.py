"""Reading one workspace file as text: the one rule for agent tools, quote checks and
edits (discovery has its own, stricter one: analysis/discover.py also skips generated,
minified and vendored files).

A file is readable text when it is a regular file of at most `max_bytes`, holds no NUL
byte and decodes as UTF-8. `read_text` raises `NotText` naming the file and why, so each
caller only chooses its own error type.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable


class NotText(ValueError):
    """The file is missing, not a regular file, too large, binary or not UTF-8."""


def read_text(path: Path, rel: str, *, max_bytes: int, purpose: str = "",
              on_bytes: Callable[[bytes], None] | None = None) -> str:
    """The text of `path` (shown as `rel`). `on_bytes` sees the bytes read, also when they
    turn out not to be text (agent tools record what their answer depended on)."""
    if not path.exists():
        raise NotText(f"{rel}: no such file")
    if not path.is_file():
        raise NotText(f"{rel}: not a regular file")
    size = path.stat().st_size
    if size > max_bytes:
        raise NotText(f"{rel}: {size} bytes is larger than the {max_bytes}-byte limit" + (f" {purpose}" if purpose else ""))
    data = path.read_bytes()
    if on_bytes is not None:
        on_bytes(data)
    if b"\x00" in data:
        raise NotText(f"{rel}: binary file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotText(f"{rel}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
