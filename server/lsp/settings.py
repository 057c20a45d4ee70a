"""Server settings: initialization options and `workspace/configuration` (section "refute").

Both are merged onto `EngineSettings` with `EngineSettings.updated()`; unknown keys and
values of the wrong type come back as warnings (the server logs them to the client with
`window/logMessage`) instead of being dropped silently or crashing the server.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from refute.orchestration.settings import EngineSettings

SECTION = "refute"


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
    current, problems = base.merged(values)
    return current, [f"{origin}: {_qualified(p)} (ignored)" for p in problems]


def _qualified(problem: str) -> str:
    # "unknown setting x" -> "unknown setting refute.x"; "x: expected ..." -> "refute.x: ..."
    prefix = "unknown setting "
    if problem.startswith(prefix):
        return prefix + f"{SECTION}." + problem[len(prefix):]
    return f"{SECTION}.{problem}"


def describe_defaults() -> list[tuple[str, str, Any]]:
    """(camelCase key, python field, default) for docs/lsp.md and `refute lsp --settings`."""
    rows = []
    defaults = EngineSettings()
    for f in fields(EngineSettings):
        head, *rest = f.name.split("_")
        camel = head + "".join(part.title() for part in rest)
        value = getattr(defaults, f.name)
        rows.append((camel, f.name, list(value) if isinstance(value, tuple) else value))  # JSON's shape
    return rows
