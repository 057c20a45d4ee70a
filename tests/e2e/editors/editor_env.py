"""Paths and helpers shared by the editor end-to-end tests (imported by conftest.py and
the test modules; a plain module because tests/ is not a package)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures"
VENV_BIN = Path(sys.executable).parent
REFUTE = VENV_BIN / "refute"
NVIM = VENV_BIN / "nvim"
NEOVIM_PLUGIN = REPO / "editor-clients" / "neovim"
VSCODE_EXTENSION = REPO / "editor-clients" / "vscode"
ARTIFACTS = REPO / "test-artifacts"
SETUP_HINT = "run `bash scripts/setup.sh --editors` (scripts/test.sh does it)"


def scripted_settings(**extra: object) -> dict[str, object]:
    """Server settings for the scripted provider; approval thresholds high enough that
    no run stops to ask."""
    settings: dict[str, object] = {
        "provider": "scripted",
        "scriptedFixture": f"{FIXTURES / 'scripted_answers.py'}:answer",
        "approvalThresholdCalls": 100000,
        "approvalThresholdUsd": 1000.0,
    }
    settings.update(extra)
    return settings


def dump(value: object) -> str:
    return json.dumps(value)
