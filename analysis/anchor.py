"""Quote anchoring: where a quoted snippet sits in a file's current text.

Exact match first; then a whitespace-insensitive match (runs of whitespace in the quote
and the text compare equal to each other, and leading/trailing whitespace of the quote
is ignored), because models re-indent and re-wrap what they quote.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass


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
    """The span of `quote` in `text`, or None when it is not there (or is blank)."""
    if not quote or not quote.strip():
        return None
    index = text.find(quote)
    if index >= 0:
        return span_of(text, index, index + len(quote))
    words = quote.split()
    pattern = r"\s+".join(re.escape(word) for word in words)
    match = re.search(pattern, text)
    if match is None:
        # Also tolerate whitespace inserted or dropped between tokens ("f(a,b)" vs "f(a, b)").
        chars = "".join(words)
        if len(chars) > 10_000:
            return None
        pattern = r"\s*".join(re.escape(ch) for ch in chars)
        match = re.search(pattern, text)
        if match is None:
            return None
    return span_of(text, match.start(), match.end())
