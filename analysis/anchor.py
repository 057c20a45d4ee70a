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
    """0-based lines and code-point columns; the end is exclusive. The one span type:
    orchestration's model and the language server use it too."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Span":
        return cls(int(data["start_line"]), int(data["start_col"]), int(data["end_line"]), int(data["end_col"]))


def offset_to_position(text: str, offset: int) -> tuple[int, int]:
    """(line, code-point column) of a code-point offset into `text`."""
    line = text.count("\n", 0, offset)
    line_start = text.rfind("\n", 0, offset) + 1
    return line, offset - line_start


def span_of(text: str, start: int, end: int) -> Span:
    start_line, start_col = offset_to_position(text, start)
    end_line, end_col = offset_to_position(text, end)
    return Span(start_line, start_col, end_line, end_col)


def quote_matches(text: str, quote: str) -> list[tuple[int, int]]:
    """Every place `quote` is in `text`, as (start, end) code-point offsets.

    Exact matches when there are any. Otherwise whitespace is ignored on both sides: the
    quote's non-whitespace characters must appear, in order and contiguous, in the text's
    non-whitespace characters. Linear-time searches (str.find on the stripped text), so a
    long or adversarial quote cannot stall the caller the way a backtracking regex could."""
    if not quote or not quote.strip():
        return []
    exact = _all_finds(text, quote)
    if exact:
        return [(i, i + len(quote)) for i in exact]
    needle = "".join(quote.split())
    runs = [(m.start(), m.end()) for m in _NON_SPACE.finditer(text)]
    stripped = "".join(text[start:end] for start, end in runs)
    found_at = _all_finds(stripped, needle)
    if not found_at:
        return []
    # Map stripped offsets back to the text: `offsets[k]` is where run k starts in `stripped`.
    offsets: list[int] = []
    total = 0
    for start, end in runs:
        offsets.append(total)
        total += end - start
    matches = []
    for found in found_at:
        first = bisect_right(offsets, found) - 1
        last_char = found + len(needle) - 1
        last = bisect_right(offsets, last_char) - 1
        matches.append((runs[first][0] + (found - offsets[first]), runs[last][0] + (last_char - offsets[last]) + 1))
    return matches


def _all_finds(haystack: str, needle: str) -> list[int]:
    found, at = [], haystack.find(needle)
    while at >= 0:
        found.append(at)
        at = haystack.find(needle, at + 1)
    return found


def anchor_quote(text: str, quote: str, near: tuple[int, int] | None = None) -> Span | None:
    """The span of `quote` in `text` (rules: `quote_matches`), or None when it is not
    there (or is blank). Of several matches, the first; or, given `near` as (line,
    code-point column), the one starting closest to it: where the quote was before an
    edit, since a quote can repeat in a file."""
    matches = quote_matches(text, quote)
    if not matches:
        return None
    start, end = matches[0]
    if near is not None and len(matches) > 1:
        target = position_to_offset(text, *near)
        start, end = min(matches, key=lambda m: abs(m[0] - target))
    return span_of(text, start, end)


def position_to_offset(text: str, line: int, col: int) -> int:
    """The code-point offset of (line, column) in `text`, clamped to its end."""
    offset = 0
    for _ in range(line):
        newline = text.find("\n", offset)
        if newline < 0:
            return len(text)
        offset = newline + 1
    return min(offset + col, len(text))
