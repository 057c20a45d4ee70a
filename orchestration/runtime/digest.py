"""Digests of work units for prompts: pure functions on unit dicts, no calls.

Workflow API names:

| name | does |
| --- | --- |
| outline(units) | one line per unit, "path:first-last symbol" (1-based lines): a map of the scope |
| entry_points(units, limit=12) | up to `limit` units that look like entry points (by symbol and path), first 25 lines of each |
| file_texts(units) | {path: the file's code, unit by unit under "--- lines a-b" headers}, paths in sorted order |
| file_groups(units, max_tokens=24000) | the files in path order, cut into groups of about `max_tokens` estimated tokens |

Why in the API: every bundled workflow needs one of them and a script cannot import a
helper; one definition each keeps prompts identical across workflows (and so keeps
their journal keys stable).
"""

from __future__ import annotations

from typing import Any, Iterable

ENTRY_HINTS = ("main", "handler", "handle", "route", "view", "api", "request", "cli", "server",
               "app", "endpoint", "upload", "login", "auth", "parse", "load", "command")
EXCERPT_LINES = 25
GROUP_TOKENS = 24_000


def outline(units: Iterable[dict[str, Any]]) -> str:
    return "\n".join(f"{u['path']}:{u['start_line'] + 1}-{u['end_line'] + 1} {u.get('symbol') or ''}"
                     for u in units)


def _looks_like_entry_point(unit: dict[str, Any]) -> bool:
    name = ((unit.get("symbol") or "") + " " + unit["path"]).lower()
    return any(hint in name for hint in ENTRY_HINTS)


def _excerpt(unit: dict[str, Any]) -> str:
    lines = unit["text"].splitlines()
    more = "\n..." if len(lines) > EXCERPT_LINES else ""
    return (f"--- {unit['path']}:{unit['start_line'] + 1} {unit.get('symbol') or ''}\n"
            + "\n".join(lines[:EXCERPT_LINES]) + more)


def entry_points(units: Iterable[dict[str, Any]], limit: int = 12) -> dict[str, Any]:
    """{"units": the sample (entry-point-looking units first, then the rest, in scope
    order), "text": their excerpts, blank-line separated}."""
    units = list(units)
    entries = [u for u in units if _looks_like_entry_point(u)]
    rest = [u for u in units if not _looks_like_entry_point(u)]
    sample = (entries + rest)[:max(int(limit), 0)]
    return {"units": sample, "text": "\n\n".join(_excerpt(u) for u in sample)}


def file_texts(units: Iterable[dict[str, Any]]) -> dict[str, str]:
    by_path: dict[str, list[dict[str, Any]]] = {}
    for unit in units:
        by_path.setdefault(unit["path"], []).append(unit)
    return {path: "\n".join(f"--- lines {u['start_line'] + 1}-{u['end_line'] + 1}\n{u['text']}"
                            for u in by_path[path]) for path in sorted(by_path)}


def file_groups(units: Iterable[dict[str, Any]], max_tokens: int = GROUP_TOKENS) -> list[list[str]]:
    """A group is closed before the file that would take it over `max_tokens` (a file
    larger than that is a group of its own); no group is empty."""
    sizes: dict[str, int] = {}
    for unit in units:
        sizes[unit["path"]] = sizes.get(unit["path"], 0) + int(unit.get("tokens") or 0)
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for path in sorted(sizes):
        if current and size + sizes[path] > max_tokens:
            groups.append(current)
            current, size = [], 0
        current.append(path)
        size += sizes[path]
    if current:
        groups.append(current)
    return groups


NAMES = {"outline": outline, "entry_points": entry_points, "file_texts": file_texts, "file_groups": file_groups}

__all__ = ["outline", "entry_points", "file_texts", "file_groups", "NAMES"]
