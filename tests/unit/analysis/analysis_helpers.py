"""Checks shared by the analysis tests."""

from __future__ import annotations

from refute.analysis.tokens import estimate_tokens
from refute.analysis.units import WorkUnit


def assert_lossless_and_bounded(text: str, units: list[WorkUnit], max_tokens: int) -> None:
    """Units are disjoint, in order, exact slices of the text; everything between them is
    whitespace; each is within the token limit; lines and tokens are right."""
    data = text.encode("utf-8")
    position = 0
    for unit in units:
        assert unit.start_byte >= position, f"unit {unit.id} overlaps the previous one"
        gap = data[position:unit.start_byte].decode("utf-8")
        assert gap.strip() == "" and all(ch.isspace() for ch in gap), f"non-whitespace {gap!r} in no unit"
        assert data[unit.start_byte:unit.end_byte].decode("utf-8") == unit.text
        assert unit.text.strip(), "a unit holds only whitespace"
        assert unit.tokens == estimate_tokens(unit.text)
        assert unit.tokens <= max_tokens, f"unit of {unit.tokens} tokens over the limit {max_tokens}"
        assert unit.start_line == data.count(b"\n", 0, unit.start_byte)
        assert unit.end_line == data.count(b"\n", 0, unit.end_byte - 1)
        position = unit.end_byte
    tail = data[position:].decode("utf-8")
    assert all(ch.isspace() for ch in tail), f"non-whitespace {tail[:40]!r} after the last unit"
    non_ws = "".join(text.split())
    assert "".join("".join(u.text.split()) for u in units) == non_ws
