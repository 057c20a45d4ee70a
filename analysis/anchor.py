"""Quote anchoring: where a quoted snippet sits in a file's current text.

Exact match first; then a whitespace-insensitive match (whitespace in the quote and in
the text is ignored), because models re-indent and re-wrap what they quote.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import asdict, dataclass


_NON_SPACE = re.compile(r"\S+")


@dataclass(frozen=True)
class Span:
    """0-based lines and code-point columns; the end is exclusive. orchestration has its
    own `model.Span` with the same fields (analysis may not import it)."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def offset_to_position(text: str, offset: int) -> tuple[int, int]:
    """(line, code-point column) of a code-point offset into `text`."""
    line = text.count("\n", 0, offset)
    line_start = text.rfind("\n", 0, offset) + 1
    return line, offset - line_start


def span_of(text: str, start: int, end: int) -> Span:
    start_line, start_col = offset_to_position(text, start)
    end_line, end_col = offset_to_position(text, end)
    return Span(start_line, start_col, end_line, end_col)


def anchor_quote(text: str, quote: str) -> Span | None:
    """The span of `quote` in `text`, or None when it is not there (or is blank).

    Exact match first. Otherwise whitespace is ignored on both sides: the quote's
    non-whitespace characters must appear, in order and contiguous, in the text's
    non-whitespace characters. Linear time (str.find on the stripped text), so a long
    or adversarial quote cannot stall the caller the way a backtracking regex could."""
    if not quote or not quote.strip():
        return None
    index = text.find(quote)
    if index >= 0:
        return span_of(text, index, index + len(quote))
    needle = "".join(quote.split())
    runs = [(m.start(), m.end()) for m in _NON_SPACE.finditer(text)]
    stripped = "".join(text[start:end] for start, end in runs)
    found = stripped.find(needle)
    if found < 0:
        return None
    # Map stripped offsets back to the text: `offsets[k]` is where run k starts in `stripped`.
    offsets: list[int] = []
    total = 0
    for start, end in runs:
        offsets.append(total)
        total += end - start
    first = bisect_right(offsets, found) - 1
    last_char = found + len(needle) - 1
    last = bisect_right(offsets, last_char) - 1
    start = runs[first][0] + (found - offsets[first])
    end = runs[last][0] + (last_char - offsets[last]) + 1
    return span_of(text, start, end)
