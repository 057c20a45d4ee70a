"""Validation of `workspace/executeCommand` arguments.

Every command takes one JSON object (ARCHITECTURE.md, "server"); anything else is a
JSON-RPC "invalid params" error whose message names the command and the field, never a
crash and never a silent default.
"""

from __future__ import annotations

import math
from typing import Any

from pygls.exceptions import JsonRpcInvalidParams
from pygls.uris import to_fs_path

from refute.analysis.paths import PathRefused, PathRule, Purpose
from refute.orchestration.model import Budget, Scope


class BadParams(JsonRpcInvalidParams):
    """A command argument is missing or of the wrong shape (JSON-RPC -32602)."""


def single_object(command: str, args: tuple[Any, ...]) -> dict[str, Any]:
    if not args:
        return {}
    if len(args) > 1:
        raise BadParams(f"{command}: expected one object argument, got {len(args)} arguments")
    (value,) = args
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadParams(
            f"{command}: `arguments` must be an array holding one object, e.g. "
            f'[{{"workflow": "audit"}}]; got {type(value).__name__} {value!r} as its first element'
            + (" (an object sent as `arguments` itself arrives as its keys; from Emacs pass "
               "(vector '(:workflow \"audit\")), or use M-x refute-audit from editor-clients/emacs/refute.el)"
               if isinstance(value, str) else ""))
    return value


def required_str(command: str, params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadParams(f"{command}: '{key}' is required and must be a non-empty string (got {value!r})")
    return value.strip()


def optional_str(command: str, params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadParams(f"{command}: '{key}' must be a non-empty string (got {value!r})")
    return value.strip()


def optional_bool(command: str, params: dict[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise BadParams(f"{command}: '{key}' must be true or false (got {value!r})")
    return value


def optional_number(command: str, params: dict[str, Any], key: str, *, integer: bool = False) -> float | int | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        kind = "an integer" if integer else "a number"
        raise BadParams(f"{command}: '{key}' must be {kind} (got {value!r})")
    if isinstance(value, float) and not math.isfinite(value):  # a NaN budget compared false to everything
        raise BadParams(f"{command}: '{key}' must be a finite number (got {value!r})")
    if value < 0:
        raise BadParams(f"{command}: '{key}' must not be negative (got {value!r})")
    return value


def optional_dict(command: str, params: dict[str, Any], key: str) -> dict[str, Any]:
    value = params.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadParams(f"{command}: '{key}' must be an object (got {value!r})")
    return value


def workspace_path(command: str, root: str, raw: Any) -> str:
    """A workspace-relative POSIX path; `file://` URIs inside the workspace are accepted
    (editors have them at hand), anything outside the workspace is refused."""
    if not isinstance(raw, str) or not raw.strip():
        raise BadParams(f"{command}: scope paths must be non-empty strings (got {raw!r})")
    text = raw.strip()
    if text.startswith("file:"):
        fs = to_fs_path(text)
        if not fs:
            raise BadParams(f"{command}: cannot read the path of {text!r}")
        text = fs
    try:  # the one path rule (refute.analysis.paths): inside after symlinks, never .git/ or .refute/
        rel = PathRule(root).check(text, Purpose.READ).rel
    except PathRefused as exc:
        raise BadParams(f"{command}: scope path {raw!r} must be workspace-relative and inside the workspace: {exc}") from None
    return rel


def scope(command: str, root: str, params: dict[str, Any]) -> Scope:
    raw = params.get("scope")
    if raw is None:
        return Scope()
    if not isinstance(raw, dict):
        raise BadParams(f"{command}: 'scope' must be an object {{paths, selection?}} (got {raw!r})")
    paths_raw = raw.get("paths") or []
    if not isinstance(paths_raw, list):
        raise BadParams(f"{command}: 'scope.paths' must be a list of workspace-relative paths (got {paths_raw!r})")
    paths = [p for p in (workspace_path(command, root, p) for p in paths_raw) if p != "."]
    since = raw.get("since")
    if since is not None and (not isinstance(since, str) or not since.strip() or since.startswith("-")):
        raise BadParams(f"{command}: 'scope.since' must be a git ref such as 'origin/main' (got {since!r})")
    selection = raw.get("selection")
    if selection is not None:
        if (
            not isinstance(selection, list)
            or len(selection) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in selection)
            or selection[0] > selection[1]
        ):
            raise BadParams(
                f"{command}: 'scope.selection' must be [startLine, endLine], 0-based, start <= end (got {selection!r})"
            )
        if len(paths) != 1:
            raise BadParams(f"{command}: a selection needs exactly one file in 'scope.paths' (got {len(paths)})")
        return Scope(paths, (selection[0], selection[1]), since=since)
    return Scope(paths, since=since)


def budget(command: str, params: dict[str, Any], defaults: tuple[int | None, float | None]) -> Budget:
    tokens = optional_number(command, params, "budgetTokens", integer=True)
    usd = optional_number(command, params, "budgetUsd")
    return Budget(
        tokens=int(tokens) if tokens is not None else defaults[0],
        usd=float(usd) if usd is not None else defaults[1],
    )
