"""The scripted provider: deterministic answers for tests, demos and benchmarks.

Everything it produces is labelled "scripted" (CallResult.provider), and front ends show
that label wherever its results appear. Two sources of answers:

- a fixture file (JSON): a list of rules, or {"rules": [...], "latency_s": 0.05}. Each
  rule: {"match": regex searched in the context (a unit's code) and the prompt, "label": regex, "role": regex,
  "model": regex, "reply": text or JSON object, "usage": {...}, "latency_s": 0.1,
  "error": "rate_limit" | "overloaded" | "timeout" | "invalid" | "spend_limit" |
  "refused" | "truncated", "times": N (the error applies to the first N matches only),
  "retry_after": seconds}. The first rule whose patterns all match answers. An error
  rule's "usage" is attached to the fault (`exc.usage`): tokens spent on a failed call.
- a function, "package.module:function" or "path/to/file.py:function" (relative to the
  workspace): called with the CallRequest as a dict (plus `workspace`: its absolute path, since
  the worker runs outside it); returns text or a JSON-ready object,
  or raises a ProviderError subclass to simulate a fault.

Usage, when a rule does not give it, is estimated from the text; a call's `context` is
counted as a cache write the first time this provider sees it and as a cache read after,
like the real prompt cache, and as plain input when system + context is shorter than the
model's minimum cacheable prefix (calls/prompt_cache.py). worst_case = estimated input tokens + max_tokens.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from refute.orchestration.calls import pricing
from refute.orchestration.calls.prompt_cache import cacheable
from refute.orchestration.model import CallRequest, CallResult, Usage, stable_hash
from refute.orchestration.providers.base import (CallContext, CallTimeout, InvalidOutput, NotConfigured, Overloaded,
    ProviderError, RateLimited, Refused, SpendLimitReached, Truncated)

LABEL = "scripted"

_ERRORS: dict[str, type[ProviderError]] = {
    "rate_limit": RateLimited,
    "overloaded": Overloaded,
    "timeout": CallTimeout,
    "invalid": InvalidOutput,
    "spend_limit": SpendLimitReached,
    "refused": Refused,
    "truncated": Truncated,
}


def estimate_tokens(text: str | None) -> int:
    if not text:
        return 0
    from refute.analysis.tokens import estimate_tokens as estimate

    return estimate(text)


def input_tokens(request: CallRequest) -> tuple[int, int]:
    """(tokens outside the context, tokens of the context) of a request."""
    schema = json.dumps(request.schema, sort_keys=True) if request.schema else ""
    plain = estimate_tokens(request.system) + estimate_tokens(request.prompt) + estimate_tokens(schema)
    return plain, estimate_tokens(request.context)


class ScriptedProvider:
    name = LABEL

    def __init__(self, source: str | None = None, *, workspace: str | Path = ".", latency_s: float = 0.0,
                 rules: list[dict[str, Any]] | None = None, function: Callable[[dict[str, Any]], Any] | None = None,
                 batch: bool = False):
        self.workspace = Path(workspace)
        self.latency_s = float(latency_s)
        self.batch = batch
        self._rules: list[dict[str, Any]] = []
        self._function = function
        self._seen_contexts: set[str] = set()
        self._lock = threading.Lock()
        self._uses: dict[int, int] = {}
        if rules is not None:
            self._rules = self._check_rules(rules, "rules")
        elif function is None:
            if not source:
                raise NotConfigured(
                    "the scripted provider needs a fixture: set scripted_fixture (REFUTE_SCRIPTED_FIXTURE or "
                    "--scripted-fixture) to a JSON file of rules or to 'package.module:function'"
                )
            self._load(source)

    # --- configuration ---------------------------------------------------------------

    def _load(self, source: str) -> None:
        path_part, _, func_name = source.rpartition(":")
        is_function = bool(path_part) and re.fullmatch(r"[A-Za-z_]\w*", func_name or "") is not None \
            and not source.endswith(".json")
        if is_function:
            self._function = self._import_function(path_part, func_name, source)
            return
        path = Path(source)
        if not path.is_absolute():
            path = self.workspace / path
        try:
            data = json.loads(path.read_text("utf-8"))
        except OSError as exc:
            raise NotConfigured(f"scripted fixture {source}: cannot read it ({exc.strerror})") from None
        except ValueError as exc:
            raise NotConfigured(f"scripted fixture {source}: not valid JSON ({exc})") from None
        if isinstance(data, dict):
            if "latency_s" in data:
                self.latency_s = float(data["latency_s"])
            data = data.get("rules")
        self._rules = self._check_rules(data, source)

    def _import_function(self, target: str, func_name: str, source: str) -> Callable[[dict[str, Any]], Any]:
        try:
            if target.endswith(".py"):
                path = Path(target)
                if not path.is_absolute():
                    path = self.workspace / path
                # Unique per file, so two fixtures named answers.py don't replace each other.
                stem = re.sub(r"\W", "_", path.stem)
                name = f"refute_scripted_{stem}_{stable_hash(str(path.resolve()))[:10]}"
                spec = importlib.util.spec_from_file_location(name, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {path}")
                module = importlib.util.module_from_spec(spec)
                # Registered before it runs, as `import` does: dataclasses (with string
                # annotations), pickle and typing look the module up in sys.modules.
                sys.modules[name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(name, None)
                    raise
            else:
                module = importlib.import_module(target)
        except (ImportError, OSError, SyntaxError) as exc:
            raise NotConfigured(f"scripted function {source}: cannot import it ({exc})") from None
        func = getattr(module, func_name, None)
        if not callable(func):
            raise NotConfigured(f"scripted function {source}: {func_name!r} is not a function in {target}")
        return func

    @staticmethod
    def _check_rules(rules: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(rules, list):
            raise NotConfigured(f"scripted fixture {where}: expected a list of rules")
        for i, rule in enumerate(rules):
            if not isinstance(rule, dict):
                raise NotConfigured(f"scripted fixture {where}: rule {i} is not an object")
            if "reply" not in rule and "error" not in rule:
                raise NotConfigured(f"scripted fixture {where}: rule {i} has neither 'reply' nor 'error'")
            if "error" in rule and rule["error"] not in _ERRORS:
                raise NotConfigured(f"scripted fixture {where}: rule {i}: unknown error {rule['error']!r}; "
                                    f"use one of {', '.join(_ERRORS)}")
            for field in ("match", "label", "role", "model"):
                if field in rule:
                    try:
                        re.compile(rule[field])
                    except re.error as exc:
                        raise NotConfigured(f"scripted fixture {where}: rule {i}: bad {field} regex ({exc})") from None
        return rules

    # --- Provider ------------------------------------------------------------------------

    def worst_case(self, request: CallRequest) -> tuple[int, float]:
        plain, context = input_tokens(request)
        tokens = plain + context + request.max_tokens
        return tokens, pricing.worst_case_usd(request.model, plain + context, request.max_tokens, self.batch)

    def call(self, request: CallRequest, ctx: CallContext) -> CallResult:
        if self._function is not None:
            latency = self.latency_s
            self._sleep(latency, ctx)
            # The workspace rides along: the worker's working directory is not the workspace.
            reply = self._function({**request.to_dict(), "workspace": str(self.workspace)})
            return self._result(request, reply, None, latency)
        rule, index = self._match(request)
        latency = float(rule.get("latency_s", self.latency_s))
        self._sleep(latency, ctx)
        error = rule.get("error")
        if error:
            with self._lock:
                uses = self._uses[index] = self._uses.get(index, 0) + 1
            times = rule.get("times")
            if times is None or uses <= int(times):
                fault = _ERRORS[error](f"scripted {error} (rule {index})", retry_after=rule.get("retry_after"))
                if rule.get("usage"):  # tokens the failed call used anyway (the budget charges them)
                    fault.usage = Usage.from_dict(rule["usage"])  # type: ignore[attr-defined]
                    fault.cost_usd = None  # type: ignore[attr-defined]
                raise fault
            if "reply" not in rule:
                rule, index = self._match(request, start=index + 1)
        return self._result(request, rule.get("reply", ""), rule.get("usage"), latency)

    def close(self) -> None:
        return None

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _sleep(latency: float, ctx: CallContext) -> None:
        if latency > 0 and ctx.cancelled.wait(latency):
            raise CallTimeout("the scripted call was cancelled")

    def _match(self, request: CallRequest, start: int = 0) -> tuple[dict[str, Any], int]:
        # "match" searches what the model reads: the shared context (a unit's code) and the prompt.
        prompt = f"{request.context}\n\n{request.prompt}" if request.context else request.prompt
        fields = {"match": prompt, "label": request.label or "", "role": request.role, "model": request.model}
        for index in range(start, len(self._rules)):
            rule = self._rules[index]
            if all(re.search(rule[f], text) for f, text in fields.items() if f in rule):
                return rule, index
        raise InvalidOutput(f"no scripted rule matches call {request.label or request.prompt[:60]!r}")

    def _result(self, request: CallRequest, reply: Any, usage: dict[str, int] | None, latency: float) -> CallResult:
        if isinstance(reply, str):
            text, data = reply, None
            if request.schema:
                try:
                    data = json.loads(reply)
                except ValueError:
                    data = None
        else:
            text, data = json.dumps(reply, ensure_ascii=False), reply
        return CallResult(text=text, data=data, usage=self._usage(request, text, usage), model=request.model,
                          provider=LABEL, latency_s=latency)

    def _usage(self, request: CallRequest, text: str, given: dict[str, int] | None) -> Usage:
        if given:
            return Usage.from_dict(given)
        plain, context = input_tokens(request)
        output = min(estimate_tokens(text), request.max_tokens)
        usage = Usage(input_tokens=plain, output_tokens=output)
        if request.context and not cacheable(request.model, estimate_tokens(request.system) + context):
            usage.input_tokens += context  # too short to cache: the API bills it as plain input
        elif request.context:
            with self._lock:
                seen = request.context in self._seen_contexts
                self._seen_contexts.add(request.context)
            if seen:
                usage.cache_read_tokens = context
            else:
                usage.cache_write_tokens = context
        return usage
