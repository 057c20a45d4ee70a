"""Model providers behind one interface (base.Provider).

`make_provider(settings, workspace)` picks one by `settings.provider`:
- "scripted": deterministic answers from a fixture or a function (scripted.py);
- "anthropic": the Anthropic SDK (anthropic.py), imported lazily so that planning,
  checking scripts and the scripted provider work without it;
- "openai": any OpenAI-compatible chat-completions endpoint (openai_compat.py): Ollama,
  vLLM, llama-server, LM Studio, LiteLLM, the OpenAI API;
- "local": the small local demo model, llama.cpp in-process (local.py, extra refute[local]).
"""

from __future__ import annotations

from pathlib import Path

from refute.orchestration.providers.base import NotConfigured, Provider
from refute.orchestration.settings import EngineSettings

PROVIDERS = ("anthropic", "openai", "local", "scripted")

_HOW_TO_CONFIGURE = (
    "set ANTHROPIC_API_KEY (or REFUTE_ANTHROPIC_BASE_URL for a gateway or compatible endpoint, or "
    "anthropic_client = bedrock / vertex with the cloud's credentials); `refute plan` needs no model"
)


def make_provider(settings: EngineSettings, workspace: str | Path) -> Provider:
    name = (settings.provider or "").strip().lower()
    if name == "scripted":
        from refute.orchestration.providers.scripted import ScriptedProvider

        return ScriptedProvider(settings.scripted_fixture, workspace=workspace,
                                latency_s=settings.scripted_latency_s, batch=settings.batch)
    if name == "anthropic":
        try:
            from refute.orchestration.providers.anthropic import AnthropicProvider
        except ImportError as exc:
            raise NotConfigured(f"the Anthropic provider is not available ({exc}); {_HOW_TO_CONFIGURE}") from None
        try:
            return AnthropicProvider(settings, workspace)
        except NotConfigured as exc:
            message = str(exc)
            if "refute plan" not in message:
                message = f"{message} ({_HOW_TO_CONFIGURE})"
            raise NotConfigured(message) from None
    if name == "openai":
        from refute.orchestration.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(settings, workspace)
    if name == "local":
        from refute.orchestration.providers.local import LocalProvider

        return LocalProvider(settings, workspace)
    raise NotConfigured(f"unknown provider {settings.provider!r}; choose one of {', '.join(PROVIDERS)}")
