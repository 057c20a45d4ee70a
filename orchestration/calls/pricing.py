"""Prices per model, kept as data (prices.json), and the cost of a call.

The table records the date it was taken; prices change, so a run records the cost it
computed at the time (CallResult.cost_usd) rather than recomputing later. Model names
resolve exactly, then through the alias table, then by dropping a trailing date
("claude-sonnet-4-5-20250929" -> "claude-sonnet-4-5"). An unknown model is an error, not
a zero: a budget in dollars must never be silently unenforced.

Self-hosted models (providers "openai" and "local") are priced by the settings that name
them (`openai_price_input` / `openai_price_output`, USD per million tokens, default 0):
`EngineSettings` declares that price here when it is built, in every process that builds
one (CLI, language server, run worker). A declared $0 is an explicit statement that the
model costs nothing per token (the local demo model, an Ollama on your laptop), not a
missing price; token budgets still bind, dollar budgets then never do.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from refute.orchestration.errors import InvalidInput
from refute.orchestration.model import Usage

_PER_MILLION = 1_000_000


class UnknownModel(InvalidInput):
    """No price is known for a model, so its cost (and a USD budget) cannot be computed."""


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_write: float
    cache_read: float


_declared: dict[str, Price] = {}  # self-hosted models priced by settings (see the docstring)


def declare(model: str, *, input: float = 0.0, output: float = 0.0) -> None:
    """Price a self-hosted model (USD per million tokens; cache tokens at the input price)."""
    if model and model not in table()["models"]:
        _declared[model] = Price(input=input, output=output, cache_write=input, cache_read=input)


def declared(model: str) -> bool:
    """Whether `model` is a self-hosted model priced by settings rather than prices.json."""
    return model in _declared


@lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    return json.loads(resources.files("refute.orchestration.calls").joinpath("prices.json").read_text("utf-8"))


def taken() -> str:
    return str(table()["taken"])


def known_models() -> list[str]:
    return sorted(table()["models"])


def resolve(model: str) -> str:
    models, aliases = table()["models"], table().get("aliases", {})
    if not model:
        raise UnknownModel("no model is set: for provider \"openai\" set openai_model (REFUTE_OPENAI_MODEL, "
                           "or --model on the command line)")
    if model in models or model in _declared:
        return model
    if model in aliases:
        return aliases[model]
    undated = re.sub(r"-\d{8}$", "", model)
    if undated in models:
        return undated
    raise UnknownModel(
        f"no price for model {model!r} in refute/orchestration/calls/prices.json (taken {taken()}); "
        f"known models: {', '.join(known_models())}"
    )


def price(model: str) -> Price:
    name = resolve(model)
    return _declared[name] if name in _declared else Price(**table()["models"][name])


def cost(model: str, usage: Usage, batch: bool = False) -> float:
    """US dollars for `usage` on `model` (Message Batches at the table's discount)."""
    p = price(model)
    usd = (
        usage.input_tokens * p.input
        + usage.output_tokens * p.output
        + usage.cache_write_tokens * p.cache_write
        + usage.cache_read_tokens * p.cache_read
    ) / _PER_MILLION
    if batch:
        usd *= float(table().get("batch_discount", 0.5))
    return usd


def worst_case_usd(model: str, input_tokens: int, max_output_tokens: int, batch: bool = False) -> float:
    """The most a call can cost: every input token at the dearer of the input and cache-write
    prices (a cache write costs more than plain input), plus `max_output_tokens` of output."""
    p = price(model)
    usd = (input_tokens * max(p.input, p.cache_write) + max_output_tokens * p.output) / _PER_MILLION
    if batch:
        usd *= float(table().get("batch_discount", 0.5))
    return usd
