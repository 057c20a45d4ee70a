"""Code-point <-> client-unit columns, for every encoding a client may negotiate."""

import pytest
from hypothesis import given, strategies as st
from lsprotocol import types

from refute.orchestration.model import Span
from refute.server.lsp.positions import (
    UTF8, UTF16, UTF32, from_client_column, normalise_encoding, position_to_point, range_to_span,
    span_contains, span_to_range, to_client_column,
)

LINE = "a = '😀é中' + x"  # astral, 2-byte and 3-byte characters before `+ x`


def test_utf16_counts_astral_characters_twice():
    col = LINE.index("+")
    assert to_client_column(LINE, col, UTF16) == col + 1
    assert from_client_column(LINE, col + 1, UTF16) == col


def test_utf8_counts_bytes():
    col = LINE.index("+")
    assert to_client_column(LINE, col, UTF8) == len(LINE[:col].encode("utf-8"))


def test_utf32_is_code_points():
    assert to_client_column(LINE, 7, UTF32) == 7


def test_inside_a_surrogate_pair_rounds_down():
    emoji = LINE.index("😀")
    assert from_client_column(LINE, to_client_column(LINE, emoji, UTF16) + 1, UTF16) == emoji


def test_columns_past_the_end_clamp():
    assert from_client_column("abc", 99, UTF16) == 3
    assert to_client_column("abc", 99, UTF8) == 3


def test_unknown_encoding_falls_back_to_utf16():
    assert normalise_encoding(None) == UTF16
    assert normalise_encoding("utf-7") == UTF16
    assert normalise_encoding(types.PositionEncodingKind.Utf8) == UTF8


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"), max_size=40),
       st.sampled_from([UTF8, UTF16, UTF32]))
def test_round_trip_every_column(line, encoding):
    for col in range(len(line) + 1):
        assert from_client_column(line, to_client_column(line, col, encoding), encoding) == col


def test_span_range_round_trip_over_lines():
    lines = ["x = 1", LINE, "end"]
    span = Span(1, LINE.index("é"), 2, 3)
    rng = span_to_range(span, lines, UTF16)
    assert rng.start.character == LINE.index("é") + 1
    assert range_to_span(rng, lines, UTF16) == span
    assert position_to_point(rng.start, lines, UTF16) == (1, span.start_col)


def test_span_contains_counts_the_end():
    span = Span(1, 2, 1, 5)
    assert span_contains(span, 1, 2) and span_contains(span, 1, 5)
    assert not span_contains(span, 1, 1) and not span_contains(span, 2, 0)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_ascii_shortcut_agrees_with_counting_units(encoding):
    """ASCII lines skip the per-character count; mixed lines must still count, including
    when only the part after the column is non-ASCII."""
    from refute.server.lsp.positions import _units

    for line in ["    return eval(expr)", "x = 'é' + eval(y)", "eval(y)  # ✓ 😀", "😀😀", ""]:
        for column in range(len(line) + 3):
            units = sum(_units(ch, encoding) for ch in line[:column])
            assert to_client_column(line, column, encoding) == units, (line, column)
        total = sum(_units(ch, encoding) for ch in line)
        for units in range(total + 3):
            back = from_client_column(line, units, encoding)
            assert sum(_units(ch, encoding) for ch in line[:back]) <= units
            assert back == len(line) or sum(_units(ch, encoding) for ch in line[:back + 1]) > units
