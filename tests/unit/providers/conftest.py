"""Fixtures for provider tests: the loopback Messages API, a workspace, settings, a context."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

try:
    from tests.fakes import fake_messages_api  # noqa: F401 (a fixture)
except ImportError:  # pytest started from another directory: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from tests.fakes import fake_messages_api  # noqa: F401

from refute.orchestration.providers.anthropic import AnthropicProvider
from refute.orchestration.providers.base import CallContext
from refute.orchestration.settings import EngineSettings
from tests.fakes.messages_api import TEST_API_KEY


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No real credentials or endpoints leak into (or out of) these tests."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_PROFILE",
                 "ANTHROPIC_FOUNDRY_API_KEY", "ANTHROPIC_FOUNDRY_RESOURCE", "ANTHROPIC_VERTEX_PROJECT_ID",
                 "CLOUD_ML_REGION", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_BEARER_TOKEN_BEDROCK",
                 "ANTHROPIC_CONFIG_DIR", "ANTHROPIC_CUSTOM_HEADERS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_API_KEY)
    return TEST_API_KEY


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "src").mkdir(parents=True)
    (ws / "src" / "app.py").write_text("def handler(request):\n    return eval(request.args['q'])\n")
    (ws / "README.md").write_text("# demo\n")
    return ws


@pytest.fixture
def settings(fake_messages_api, api_key: str) -> EngineSettings:
    return EngineSettings(anthropic_base_url=fake_messages_api.url, call_timeout_s=5.0)



@pytest.fixture
def ctx(workspace: Path) -> CallContext:
    signals: list[float | None] = []
    context = CallContext(cancelled=threading.Event(), timeout_s=2.0, workspace=str(workspace),
                          on_rate_limit=signals.append)
    context.signals = signals  # type: ignore[attr-defined]
    return context


@pytest.fixture
def provider(settings: EngineSettings, workspace: Path):
    """The Messages API provider against the loopback fake (closed after the test)."""
    p = AnthropicProvider(settings, workspace)
    yield p
    p.close()
