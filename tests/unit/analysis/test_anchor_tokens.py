"""Quote anchoring and token estimates."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from refute.analysis.anchor import Span, anchor_quote, quote_matches
from refute.analysis.tokens import estimate_tokens, max_bytes_for

SOURCE = """def transfer(src, dst, amount):
    if amount <= 0:
        raise ValueError("amount")
    src.balance -= amount
    dst.balance += amount
"""


def test_exact_quote():
    span = anchor_quote(SOURCE, "src.balance -= amount")
    assert span == Span(3, 4, 3, 25)
    assert span.to_dict() == {"start_line": 3, "start_col": 4, "end_line": 3, "end_col": 25}


def test_multiline_exact_quote_ends_exclusive():
    span = anchor_quote(SOURCE, "amount <= 0:\n        raise")
    assert span == Span(1, 7, 2, 13)


def test_whitespace_insensitive_quote():
    reflowed = "if amount <= 0:\n  raise ValueError(\"amount\")"  # re-indented by a model
    span = anchor_quote(SOURCE, reflowed)
    assert span == Span(1, 4, 2, 34)
    assert anchor_quote(SOURCE, "  src.balance   -=   amount  ") == Span(3, 4, 3, 25)


def test_whitespace_dropped_between_tokens_still_anchors():
    assert anchor_quote(SOURCE, "transfer(src,dst,amount)") == Span(0, 4, 0, 30)


def test_missing_or_blank_quote():
    assert anchor_quote(SOURCE, "src.balance *= 2") is None
    assert anchor_quote(SOURCE, "   \n ") is None
    assert anchor_quote(SOURCE, "") is None


def test_columns_count_code_points():
    text = "naïve = '日本語'\nprint(naïve)\n"
    assert anchor_quote(text, "'日本語'") == Span(0, 8, 0, 13)
    assert anchor_quote(text, "print( naïve )") == Span(1, 0, 1, 12)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=300), st.data())
def test_a_slice_of_the_text_is_found_and_spans_it(text, data):
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    quote = text[start:end]
    span = anchor_quote(text, quote)
    if not quote.strip():
        assert span is None
        return
    assert span is not None
    lines = text.split("\n")
    offset_start = sum(len(line) + 1 for line in lines[: span.start_line]) + span.start_col
    offset_end = sum(len(line) + 1 for line in lines[: span.end_line]) + span.end_col
    assert text[offset_start:offset_end] == quote  # exact match found first


def test_token_estimate():
    assert estimate_tokens("") == 0
    assert estimate_tokens("x") == 1
    assert estimate_tokens("a" * 35) == 10  # 3.5 bytes per token
    indented = "        return value\n" * 10
    assert estimate_tokens(indented) < len(indented.encode()) / 3.5  # indentation is cheap
    assert estimate_tokens("日本語" * 10) == 26  # counted in UTF-8 bytes (90 / 3.5)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=500))
def test_estimate_never_exceeds_the_byte_bound(text):
    size = len(text.encode("utf-8"))
    tokens = estimate_tokens(text)
    assert tokens <= -(-size * 2 // 7)  # ceil(size / 3.5)
    if size <= max_bytes_for(100):
        assert tokens <= 100


def test_adversarial_quote_is_answered_quickly():
    text = "a " * 500_000
    quote = "a" * 5000 + "b"
    start = time.process_time()
    assert anchor_quote(text, quote) is None
    assert anchor_quote(text, "a a a\n a") == Span(0, 0, 0, 7)
    assert time.process_time() - start < 5  # a backtracking regex needs ~30 s here


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["x", "yy", "(", ")", "=", " ", "\n", "\t", "é", "z"]), min_size=1, max_size=80),
       st.data())
def test_reflowed_slice_is_found_where_its_characters_are(parts, data):
    text = "".join(parts)
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    quote = text[start:end]
    if not quote.strip():
        return
    reflowed = " \n ".join(quote.split())  # the model re-wrapped the quote
    span = anchor_quote(text, reflowed)
    assert span is not None
    lines = text.split("\n")
    lo = sum(len(line) + 1 for line in lines[: span.start_line]) + span.start_col
    hi = sum(len(line) + 1 for line in lines[: span.end_line]) + span.end_col
    assert "".join(text[lo:hi].split()) == "".join(quote.split())
    assert not text[lo].isspace() and not text[hi - 1].isspace()


def test_a_repeated_quote_anchors_nearest_to_where_it_was():
    text = "x = 1\nreturn x\n\nreturn x\n"
    assert anchor_quote(text, "return x") == Span(1, 0, 1, 8)  # the first, without a hint
    assert anchor_quote(text, "return x", near=(3, 2)) == Span(3, 0, 3, 8)
    assert anchor_quote(text, "return  x", near=(3, 0)) == Span(3, 0, 3, 8)  # reflowed too


def test_quote_matches_lists_every_place_exact_before_reflowed():
    text = "a+b\na + b\na+b\n"
    assert quote_matches(text, "a+b") == [(0, 3), (10, 13)]  # exact matches win when there are any
    assert quote_matches(text, "a +  b") == [(0, 3), (4, 9), (10, 13)]
    assert quote_matches(text, "   ") == [] and quote_matches(text, "c") == []
