"""Server settings: initialization options and `workspace/configuration` (section "refute").

Both are merged onto `EngineSettings` with `EngineSettings.updated()`; unknown keys and
values of the wrong type come back as warnings (the server logs them to the client with
`window/logMessage`) instead of being dropped silently or crashing the server.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from refute.orchestration.settings import EngineSettings, _flatten, _snake  # same key rules as updated()

SECTION = "refute"

_NUMBER_TYPES = {"int": (int,), "float": (int, float)}


def _expected(field_type: str) -> tuple[type, ...] | None:
    t = str(field_type).replace(" ", "")
    base = t.split("|")[0]
    allowed: tuple[type, ...] | None
    if base == "bool":
        allowed = (bool,)
    elif base in _NUMBER_TYPES:
        allowed = _NUMBER_TYPES[base]
    elif base == "str":
        allowed = (str,)
    elif base.startswith("list"):
        allowed = (list,)
    else:
        return None
    if "None" in t:
        allowed = allowed + (type(None),)
    return allowed


def _type_problem(name: str, value: Any) -> str | None:
    by_name = {f.name: f for f in fields(EngineSettings)}
    field = by_name.get(name)
    if field is None:
        return None
    allowed = _expected(field.type)
    if allowed is None:
        return None
    # bool is an int subclass: a `true` for a number setting is a mistake, say so.
    if isinstance(value, bool) and bool not in allowed:
        return f"expected {field.type}, got {value!r}"
    if not isinstance(value, allowed):
        return f"expected {field.type}, got {type(value).__name__} {value!r}"
    return None


def merge_settings(base: EngineSettings, values: Any, origin: str) -> tuple[EngineSettings, list[str]]:
    """Apply `values` (a dict from the client) onto `base`. Returns the new settings and
    human-readable warnings naming the origin and the key."""
    if values is None:
        return base, []
    if not isinstance(values, dict):
        return base, [f"{origin}: expected an object of refute settings, got {type(values).__name__}"]
    # A client may send {"refute": {...}} as initialization options; accept both shapes.
    if set(values) == {SECTION} and isinstance(values[SECTION], dict):
        values = values[SECTION]
    warnings: list[str] = []
    current = base
    # One key at a time, so one bad value does not throw away the good ones.
    # Flattened ({"models": {"finder": x}} -> models_finder), so a bad nested key does
    # not take its good siblings down with it.
    for key, value in list(_flatten(values)):
        problems = _problems_for({key: value})
        if problems:
            warnings.extend(f"{origin}: {SECTION}.{p} (ignored)" for p in problems)
            continue
        try:
            candidate, unknown = current.updated({key: value})
        except (TypeError, ValueError) as exc:
            warnings.append(f"{origin}: {SECTION}.{key}: {exc} (ignored)")
            continue
        if unknown:
            warnings.extend(f"{origin}: unknown setting {SECTION}.{k} (ignored)" for k in unknown)
            continue
        current = candidate
    return current, warnings


def _problems_for(values: dict[str, Any]) -> list[str]:
    problems = []
    for key, value in _flatten(values):
        name = _snake(key)
        if name.startswith("models_"):
            name = "model_" + name[len("models_"):]
        problem = _type_problem(name, value)
        if problem:
            problems.append(f"{key}: {problem}")
    return problems


def describe_defaults() -> list[tuple[str, str, Any]]:
    """(camelCase key, python field, default) for docs/lsp.md and `refute lsp --settings`."""
    rows = []
    defaults = EngineSettings()
    for f in fields(EngineSettings):
        head, *rest = f.name.split("_")
        camel = head + "".join(part.title() for part in rest)
        rows.append((camel, f.name, getattr(defaults, f.name)))
    return rows
