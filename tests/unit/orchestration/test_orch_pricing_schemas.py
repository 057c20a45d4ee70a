"""Prices as data, costs, and the small schema validator / placeholder builder."""

from __future__ import annotations

import pytest

from refute.orchestration.calls import pricing
from refute.orchestration.model import Usage
from refute.orchestration.verification.schemas import placeholder, validate


def test_price_table_has_the_models_and_its_date():
    assert pricing.taken() == "2026-11-21"
    for model in ("claude-opus-4-5", "claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-3-5-haiku"):
        p = pricing.price(model)
        assert 0 < p.cache_read < p.input < p.cache_write < p.output


def test_new_models_are_priced_with_the_usual_cache_ratios_and_are_the_defaults():
    from refute.orchestration.settings import EngineSettings

    expected = {"claude-sonnet-5-5": (2, 10), "claude-opus-5-5": (4, 20), "claude-opus-5": (5, 25),
                "claude-sonnet-4-6": (3, 15), "claude-opus-4-6": (5, 25)}
    for model, (input_usd, output_usd) in expected.items():
        p = pricing.price(model)
        assert (p.input, p.output) == (input_usd, output_usd), model
        assert p.cache_write == pytest.approx(1.25 * input_usd) and p.cache_read == pytest.approx(0.1 * input_usd)
    settings = EngineSettings()
    # claude-sonnet-4-5 reaches end of life on 2026-11-30: no role defaults to it any more.
    assert settings.model_default == settings.model_finder == settings.model_editor == "claude-sonnet-5-5"
    assert settings.model_refuter == "claude-haiku-4-5"


def test_cost_counts_every_kind_of_token_and_batches_are_half_price():
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000, cache_write_tokens=1_000_000, cache_read_tokens=1_000_000)
    assert pricing.cost("claude-sonnet-4-5", usage) == pytest.approx(3 + 15 + 3.75 + 0.30)
    assert pricing.cost("claude-sonnet-4-5", usage, batch=True) == pytest.approx((3 + 15 + 3.75 + 0.30) / 2)
    assert pricing.cost("claude-sonnet-4-5-20250929", usage) == pricing.cost("claude-sonnet-4-5", usage)


def test_worst_case_bounds_every_actual_cost():
    worst = pricing.worst_case_usd("claude-haiku-4-5", 1000, 500)
    for split in range(0, 1001, 250):  # any mix of plain input, cache writes and reads
        usage = Usage(input_tokens=split, cache_write_tokens=1000 - split, output_tokens=500)
        assert pricing.cost("claude-haiku-4-5", usage) <= worst + 1e-12


def test_unknown_model_is_a_clear_error():
    with pytest.raises(pricing.UnknownModel) as info:
        pricing.cost("gpt-9", Usage(1, 1))
    assert "gpt-9" in str(info.value) and "prices.json" in str(info.value) and "claude-haiku-4-5" in str(info.value)


SCHEMA = {
    "type": "object",
    "required": ["verdict", "items", "score"],
    "properties": {
        "verdict": {"type": "string", "enum": ["confirmed", "refuted"]},
        "items": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["q"],
                                                            "properties": {"q": {"type": "string", "minLength": 2}}}},
        "score": {"type": "number", "minimum": 0.5},
        "note": {"type": ["string", "null"]},
    },
}


def test_placeholder_is_the_smallest_valid_value():
    value = placeholder(SCHEMA)
    assert value == {"verdict": "confirmed", "items": [{"q": "xx"}], "score": 0.5}
    assert validate(value, SCHEMA) == []


def test_validate_names_the_problems():
    problems = validate({"verdict": "maybe", "items": [{}], "score": True}, SCHEMA)
    assert "$.verdict: 'maybe' is not one of ['confirmed', 'refuted']" in problems
    assert "$.items[0]: 'q' is a required property" in problems
    assert "$.score: True is not of type 'number'" in problems
    assert validate({"verdict": "refuted", "items": [{"q": "ab"}], "score": 1, "note": None}, SCHEMA) == []
