"""The prompt-cache rules refute relies on, as data: the minimum cacheable prefix per model.

A prefix shorter than its model's minimum is silently not cached (the public prompt
caching docs; FACTS.md). So: the scheduler does not hold back a fan-out to "warm" a
prefix that cannot be cached (it would only serialise calls for nothing), the scripted
provider and the loopback fake of the Messages API (tests/fakes/messages_api.py) count a
short prefix as plain input, and the plan prices it that way. The minimums live in
`cache_minimums.json` with the date and source they were taken from; a model not listed
gets the file's "default".

Layout (api.py `agent(unit=...)`): the unit's or component's code is the end of the
cached prefix (after a workflow's shared context), the question follows. Calls about
the same code on the same model (a component's lenses, a candidate's refuters) share it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

_DATA = Path(__file__).with_name("cache_minimums.json")


@lru_cache(maxsize=1)
def table() -> dict[str, Any]:
    return json.loads(_DATA.read_text("utf-8"))


def minimum_prefix_tokens(model: str) -> int:
    """The smallest prefix (in tokens) `model` caches."""
    data = table()
    try:
        from refute.orchestration.calls.pricing import resolve

        name = resolve(model)
    except Exception:  # unknown or aliased model names fall back to the raw name
        name = model
    return int(data["models"].get(name, data["models"].get(model, data["default"])))


def cacheable(model: str, prefix_tokens: int) -> bool:
    return prefix_tokens >= minimum_prefix_tokens(model)
