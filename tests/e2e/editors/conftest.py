"""Fixtures for the editor end-to-end tests: an isolated environment and a fresh copy of
the fixture workspace."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from editor_env import FIXTURES, VENV_BIN


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(FIXTURES / "project", root)
    # A marker so both editors take this folder (not an enclosing repository) as the root.
    (root / ".git").mkdir()
    return root


@pytest.fixture
def isolated_env(tmp_path: Path) -> dict[str, str]:
    """Environment that keeps editor state, logs and caches out of the person's home."""
    env = dict(os.environ)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        path = tmp_path / "xdg" / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env.pop("ANTHROPIC_API_KEY", None)  # the scripted provider must be all these tests use
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env
