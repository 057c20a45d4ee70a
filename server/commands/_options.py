"""Option types and checks shared by every `refute` command: each CLI input is validated
before anything starts, and a bad one exits 2 with a message naming the option and what
it accepts (issue 10: `--workspace /nonexistent` "completed" with 0 calls and created the
folder; `--max-concurrency 0` silently meant 16; `--budget-usd nan` turned the budget off;
a malformed `--arg` exited 1).

argparse types raise ArgumentTypeError, which argparse reports as
"argument --NAME: ..." with exit 2. Checks that need more than one option raise
UsageError, which `refute.server.cli.main` turns into exit 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

from refute.analysis.paths import PathRefused, PathRule, Purpose
from refute.orchestration.errors import InvalidInput
from refute.orchestration.settings import MAX_CONCURRENCY


class UsageError(InvalidInput):
    """Bad command-line input: exit 2 with this message."""


def existing_folder(raw: str) -> str:
    """--workspace: must already be a folder; nothing is created for a typo."""
    if not os.path.isdir(raw):
        what = "does not exist" if not os.path.exists(raw) else "is not a folder"
        raise argparse.ArgumentTypeError(f"{raw} {what}; give the folder to audit (it is never created)")
    return raw


def _number(raw: str, kind: type, low: float, high: float | None, what: str) -> Any:
    try:
        value = kind(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {raw!r}") from None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise argparse.ArgumentTypeError(f"expected {what}, got {raw!r}")
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"expected {what}, got {raw!r}")
    return value


def concurrency(raw: str) -> int:
    return _number(raw, int, 1, MAX_CONCURRENCY, f"a whole number from 1 to {MAX_CONCURRENCY}")


def positive_int(raw: str) -> int:
    return _number(raw, int, 1, None, "a whole number of at least 1")


def non_negative_float(raw: str) -> float:
    return _number(raw, float, 0.0, None, "a finite number of at least 0")


def positive_float(raw: str) -> float:
    value = _number(raw, float, 0.0, None, "a finite number above 0")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {raw!r}")
    return value


def add_budget_options(parser: argparse.ArgumentParser, whose: str = "the run") -> None:
    """--budget-tokens and --budget-usd, one rule for run, resume and eval (a budget of 0
    would allow nothing: refused by name)."""
    parser.add_argument("--budget-tokens", type=positive_int, help=f"hard token budget for {whose} "
                                                                   "(worst cases are reserved)")
    parser.add_argument("--budget-usd", type=positive_float, help=f"hard budget in US dollars for {whose}")


def key_value(raw: str) -> tuple[str, Any]:
    """--arg K=V; V is parsed as JSON when it can be (refuters=3 is the number 3)."""
    key, sep, value = raw.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {raw!r}")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value


def workspace_path(workspace: Path, raw: str) -> str:
    """A CLI path argument as a workspace-relative path, by the one path rule (READ).
    A path that exists relative to the current folder (or is absolute) means that file;
    otherwise it is taken as workspace-relative. UsageError when the rule refuses it."""
    candidate = raw if os.path.isabs(raw) or not os.path.exists(raw) else os.path.abspath(raw)
    try:
        rel = PathRule(workspace).check(candidate, Purpose.READ).rel
    except PathRefused as exc:
        raise UsageError(str(exc)) from None
    return "" if rel == "." else rel


__all__ = ["UsageError", "add_budget_options", "concurrency", "existing_folder", "key_value", "non_negative_float", "positive_int",
           "workspace_path"]
