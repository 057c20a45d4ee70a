"""Where a command's document goes: a file (`-o FILE`) or stdout. One rule for `refute
report` and `refute export`: an unwritable file is exit 2 with the reason, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path


def deliver(text: str, output: str | None, fmt: str, command: str) -> int:
    if not output:
        sys.stdout.write(text)
        return 0
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"refute {command}: cannot write {output}: {exc.strerror}", file=sys.stderr)
        return 2
    print(f"wrote {output} ({fmt})", file=sys.stderr)
    return 0
