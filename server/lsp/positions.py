"""Column conversion between the engine's code points and the client's position encoding.

The engine counts columns in code points (`model.Span`); LSP clients count UTF-16 code
units unless they negotiated "utf-8" or "utf-32" (Neovim prefers utf-8). Every range
the server sends or receives goes through here, so an emoji or a CJK character before a
finding never shifts its squiggle.
"""

from __future__ import annotations

from lsprotocol import types

from refute.orchestration.model import Span

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"


def _units(char: str, encoding: str) -> int:
    code = ord(char)
    if encoding == UTF8:
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    if encoding == UTF32:
        return 1
    return 2 if code >= 0x10000 else 1


def normalise_encoding(encoding: str | types.PositionEncodingKind | None) -> str:
    value = getattr(encoding, "value", encoding) or UTF16
    return value if value in (UTF8, UTF16, UTF32) else UTF16


def to_client_column(line: str, column: int, encoding: str) -> int:
    """Code-point column -> client units. Columns past the end clamp to the line end."""
    if encoding == UTF32:
        return min(column, len(line))
    prefix = line[:column]
    if prefix.isascii():  # the common case: one unit per character in every encoding
        return len(prefix)
    return sum(_units(ch, encoding) for ch in prefix)


def from_client_column(line: str, column: int, encoding: str) -> int:
    """Client units -> code-point column. A column inside a character (half a surrogate
    pair, the middle of a UTF-8 sequence) rounds down to that character's start."""
    if encoding == UTF32 or line.isascii():
        return min(column, len(line))
    units = 0
    for index, ch in enumerate(line):
        width = _units(ch, encoding)
        if units + width > column:
            return index
        units += width
    return len(line)


def _line(lines: list[str], index: int) -> str:
    if 0 <= index < len(lines):
        return lines[index].rstrip("\r\n")
    return ""


def span_to_range(span: Span, lines: list[str], encoding: str) -> types.Range:
    """An engine span -> an LSP range over the given document lines."""
    return types.Range(
        start=types.Position(span.start_line, to_client_column(_line(lines, span.start_line), span.start_col, encoding)),
        end=types.Position(span.end_line, to_client_column(_line(lines, span.end_line), span.end_col, encoding)),
    )


def range_to_span(rng: types.Range, lines: list[str], encoding: str) -> Span:
    return Span(
        rng.start.line,
        from_client_column(_line(lines, rng.start.line), rng.start.character, encoding),
        rng.end.line,
        from_client_column(_line(lines, rng.end.line), rng.end.character, encoding),
    )


def position_to_point(pos: types.Position, lines: list[str], encoding: str) -> tuple[int, int]:
    """An LSP position -> (line, code-point column)."""
    return pos.line, from_client_column(_line(lines, pos.line), pos.character, encoding)


def span_contains(span: Span, line: int, col: int) -> bool:
    """Whether (line, col) is inside the span; the end position counts, so a hover on the
    last character of a one-character finding still finds it."""
    if (line, col) < (span.start_line, span.start_col):
        return False
    return (line, col) <= (span.end_line, span.end_col)
