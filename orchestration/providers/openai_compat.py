"""The OpenAI-compatible provider: one logical agent call per `call()`, through the `openai` SDK.

Ollama, vLLM, llama.cpp's llama-server, LM Studio, LiteLLM and the OpenAI API itself all
speak `POST /v1/chat/completions`; this provider lets refute use any of them, so code can
stay on the user's machine or in their region (docs/self-hosted.md).

Contract (the same one the Anthropic provider keeps, so the scheduler treats both alike):
- what is sent is redacted first (orchestration.secrets); the key travels only in the
  Authorization header (the SDK's), and is registered so no log or error shows it;
- structured output: the schema goes as `response_format: {"type": "json_schema"}` (llama.cpp
  and vLLM turn it into a grammar, Ollama into its `format`); every answer is validated
  here anyway, with at most OUTPUT_RETRIES corrective retries before `InvalidOutput`;
- the read-only workspace tools of providers/tools.py become function tools (same tools,
  same path rule); the tool loop is bounded like the Anthropic one;
- `finish_reason` "length" -> `Truncated`, "content_filter" or a `refusal` -> `Refused`:
  never parsed as empty;
- usage from the response (`prompt_tokens`, `completion_tokens`, cached prompt tokens as
  cache reads); when a server sends none, the generous estimate used for reservations is
  charged instead (a budget must never see zero for tokens that were spent);
- cost from orchestration.pricing: a self-hosted model is priced by the settings that name
  it, $0 unless `openai_price_input` / `openai_price_output` say otherwise;
- rate limits: a 429 waits `retry-after` (or the `x-ratelimit-reset-*` headers); a 200 whose
  `x-ratelimit-remaining-requests` / `-tokens` is 0 tells the scheduler to slow down before
  the 429 storm (`ctx.on_rate_limit`); the last headers seen are kept for `refute doctor`;
- transport faults are raised as the typed errors of providers/base.py with the SDK's own
  retries off (`max_retries=0`): the scheduler retries, backs off and adjusts concurrency.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import openai

from refute.orchestration.model import CallRequest, CallResult, Usage
from refute.orchestration.providers.anthropic import (OUTPUT_RETRIES, RESERVED_TOOL_TURNS, Cancelled, ConnectionLost,
    ServerError, retry_after_seconds, tell_scheduler)
from refute.orchestration.providers.anthropic_faults import other_error
from refute.orchestration.providers.base import (CallContext, CallTimeout, InvalidOutput, NotConfigured, Overloaded,
    ProviderError, RateLimited, Refused, SpendLimitReached, Truncated)
from refute.orchestration.providers.reservation import (TOOL_STEP, call_ceiling, calibration_for,
    answer_or_correction, first_request_tokens, upper_tokens, whole_call_tokens, with_usage)
from refute.orchestration.providers.structured import checked_request
from refute.orchestration.providers.tools import MAX_TOOL_TURNS, run_tool_turn, tool_definitions
from refute.orchestration.calls.redaction import redact, register_secret, scrub
from refute.orchestration.settings import EngineSettings

log = logging.getLogger(__name__)

_PLAN_HINT = "`refute plan` estimates a run without calling a model; `refute doctor` checks the endpoint."
NO_KEY = "no-key"  # sent when a self-hosted server needs no key (the SDK insists on one)


# --- rate-limit headers ------------------------------------------------------------------------

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


def duration_seconds(text: str | None) -> float | None:
    """Seconds in an `x-ratelimit-reset-*` value: "1s", "6m0s", "120ms", "1h2m3.5s" or a plain number."""
    if not text:
        return None
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def rate_limit_state(headers: Any) -> dict[str, Any]:
    """The `x-ratelimit-*` headers as numbers: {limit,remaining}_{requests,tokens}, reset_*_s."""
    state: dict[str, Any] = {}
    if headers is None:
        return state
    for kind in ("requests", "tokens"):
        for what in ("limit", "remaining"):
            raw = headers.get(f"x-ratelimit-{what}-{kind}")
            if raw is not None:
                try:
                    state[f"{what}_{kind}"] = int(float(raw))
                except ValueError:
                    pass
        reset = duration_seconds(headers.get(f"x-ratelimit-reset-{kind}"))
        if reset is not None:
            state[f"reset_{kind}_s"] = reset
    return state


def exhausted_wait(state: dict[str, Any]) -> float | None:
    """Seconds until the endpoint accepts more when it said none remain, else None."""
    waits = [state.get(f"reset_{kind}_s", 1.0) for kind in ("requests", "tokens")
             if state.get(f"remaining_{kind}") == 0]
    return max(waits) if waits else None


def _retry_after(headers: Any) -> float | None:
    explicit = retry_after_seconds(headers)
    if explicit is not None:
        return explicit
    return exhausted_wait(rate_limit_state(headers)) if headers is not None else None


# --- errors ------------------------------------------------------------------------------------

_QUOTA_CODES = ("insufficient_quota", "billing_hard_limit_reached", "budget_exceeded")


def map_openai_error(exc: Exception, *, base_url: str, model: str) -> ProviderError:
    """An `openai` SDK exception as the typed fault the scheduler understands."""
    if isinstance(exc, openai.APITimeoutError):
        return CallTimeout(scrub(f"{base_url} gave no answer before the timeout"))
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f"{cause.__class__.__name__}: {cause}" if cause else str(exc)
        return ConnectionLost(scrub(f"cannot reach {base_url} ({detail}); is the server running? {_PLAN_HINT}"))
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        code = str(body.get("code") or getattr(exc, "code", None) or "")
        message = scrub(f"{status}: {body.get('message') or exc.message}")
        retry_after = _retry_after(exc.response.headers)
        if code in _QUOTA_CODES or (status in (402, 429) and "quota" in message.lower()):
            return SpendLimitReached(f"the endpoint's spend limit or quota is reached ({message}); calls are "
                                     "not retried")
        if status == 429:
            return RateLimited(f"rate limited ({message})", retry_after=retry_after)
        if status in (401, 403):
            return NotConfigured(f"{base_url} rejected the credentials ({message}); set OPENAI_API_KEY (or none "
                                 f"for a server that needs no key). {_PLAN_HINT}")
        if status == 404:
            return ProviderError(f"{base_url} does not know model {model!r} or the chat-completions route "
                                 f"({message}); set openai_model (REFUTE_OPENAI_MODEL / --model) to one the "
                                 f"server lists and openai_base_url to its /v1 address. {_PLAN_HINT}")
        if status == 408:
            return CallTimeout(f"request timed out at the server ({message})", retry_after=retry_after)
        if status in (503, 529):
            return Overloaded(f"the server is overloaded or still loading ({message})", retry_after=retry_after)
        if status >= 500:
            return ServerError(f"server error ({message})", retry_after=retry_after)
        if "response_format" in message or "json_schema" in message:
            return ProviderError(f"{base_url} rejected structured output ({message}); this server or model does "
                                 f"not support response_format json_schema. {_PLAN_HINT}")
        return ProviderError(f"request rejected ({message})")
    return other_error(exc, openai.OpenAIError)


# --- request shapes ----------------------------------------------------------------------------


def function_tools(names: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """The read-only tools of providers/tools.py as chat-completions function tools."""
    return [{"type": "function", "function": {"name": d["name"], "description": d["description"],
                                              "parameters": d["input_schema"]}}
            for d in tool_definitions(names)]


def first_messages(request: CallRequest) -> tuple[list[dict[str, Any]], int]:
    """(messages, redactions): system, then one user message with the shared context first
    (servers with prefix caching, llama.cpp and vLLM, reuse it across a fan-out)."""
    redactions = 0
    messages: list[dict[str, Any]] = []
    if request.system:
        text, n = redact(request.system)
        redactions += n
        messages.append({"role": "system", "content": text})
    parts: list[str] = []
    if request.context:
        text, n = redact(request.context)
        redactions += n
        parts.append(text)
    prompt, n = redact(request.prompt)
    redactions += n
    parts.append(prompt or "(empty prompt)")
    messages.append({"role": "user", "content": "\n\n".join(parts)})
    return messages, redactions


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """`strict` stays off: strict mode on the OpenAI API rejects schemas with optional
    properties, which workflows use; constrained servers (llama.cpp, vLLM, Ollama) follow
    the schema either way, and the answer is validated here regardless."""
    return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": False}}


def usage_of(completion: Any, estimate_in: int, estimate_out: int) -> tuple[Usage, bool]:
    """(usage, reported): the server's numbers, or the estimates when it sent none."""
    u = getattr(completion, "usage", None)
    if u is None or (getattr(u, "prompt_tokens", None) is None and getattr(u, "completion_tokens", None) is None):
        return Usage(input_tokens=estimate_in, output_tokens=estimate_out), False
    prompt = int(getattr(u, "prompt_tokens", 0) or 0)
    details = getattr(u, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details is not None else 0
    cached = min(cached, prompt)
    return Usage(input_tokens=prompt - cached, output_tokens=int(getattr(u, "completion_tokens", 0) or 0),
                 cache_read_tokens=cached), True


# --- the provider ------------------------------------------------------------------------------


class OpenAICompatProvider:
    name = "openai"

    def __init__(self, settings: EngineSettings, workspace: str | os.PathLike[str], *, client: Any = None,
                 base_url: str | None = None) -> None:
        self.settings = settings
        self.workspace = str(Path(workspace).resolve())
        self.model = settings.model_for("default")
        if not self.model:
            raise NotConfigured("provider \"openai\" needs a model: set openai_model (REFUTE_OPENAI_MODEL, "
                                "--model, or the editor's refute.openaiModel) to a model the server serves. "
                                + _PLAN_HINT)
        self.base_url = (base_url or settings.openai_base_url or os.environ.get("OPENAI_BASE_URL")
                         or "https://api.openai.com/v1").rstrip("/")
        self._lock = threading.Lock()
        self.calibration = calibration_for(self.workspace)  # input estimates learnt from counted usage
        self._client = client
        self.redactions = 0
        self.last_rate_limits: dict[str, Any] = {}  # the newest x-ratelimit-* headers (refute doctor)
        self.unreported_usage_calls = 0  # answers without usage, charged at the estimate
        if client is None and self.needs_client_now():
            self._client = self._build_client()  # a missing key fails the run at start

    def needs_client_now(self) -> bool:
        return True

    def _build_client(self) -> Any:
        api_key = os.environ.get("OPENAI_API_KEY") or None
        if api_key is None:
            if "api.openai.com" in self.base_url:
                raise NotConfigured("No OpenAI credentials: set OPENAI_API_KEY, or openai_base_url "
                                    "(REFUTE_OPENAI_BASE_URL, --base-url) to a self-hosted server. " + _PLAN_HINT)
            api_key = NO_KEY
        register_secret(api_key)
        return openai.OpenAI(api_key=api_key, base_url=self.base_url, max_retries=0,
                             timeout=self.settings.call_timeout_s)

    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    def model_for(self, request: CallRequest) -> str:
        return request.model or self.model

    def sendable_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The schema the server constrains decoding to (validation always uses the original)."""
        return schema

    # the call ------------------------------------------------------------------------------
    def call(self, request: CallRequest, ctx: CallContext) -> CallResult:
        if ctx.cancelled.is_set():
            raise Cancelled("cancelled before the call was sent")
        model = self.model_for(request)
        tools = checked_request(request, function_tools)
        client = self.client()
        messages, redactions = first_messages(request)
        if redactions:
            with self._lock:
                self.redactions += redactions
        options = dict(request.options or {})
        started = time.monotonic()
        total = Usage()
        tool_turns = 0
        output_retries = 0
        out = request.max_tokens
        # The Anthropic provider's rule (reservation.Ceiling): with a scheduler the call
        # reserves its first request and grows the reservation turn by turn.
        ceiling, retry_room = call_ceiling(self, request, ctx, model, OUTPUT_RETRIES)
        next_input = self._first_input_tokens(request)

        while True:
            params: dict[str, Any] = {"model": model, "max_tokens": out, "messages": messages}
            if request.schema is not None:
                params["response_format"] = response_format(self.sendable_schema(request.schema))
            spent = total.total_tokens
            problem = ceiling.fit_turn(spent, next_input, out, retry_room=retry_room,
                                       may_use_tools=bool(tools) and tool_turns < MAX_TOOL_TURNS)
            if problem:
                raise self._with_usage((InvalidOutput if output_retries else ProviderError)(problem), model, total)
            if tools:
                room_after = ceiling.value - (spent + next_input + out)
                final_after = next_input + out + TOOL_STEP + out
                if tool_turns < MAX_TOOL_TURNS and room_after >= final_after + retry_room:
                    params["tools"] = tools
                # else: no tools offered, so this turn must answer
            for key in ("temperature", "top_p", "stop", "seed"):
                if key in options:
                    params[key] = options[key]
            completion = self._send(params, ctx, model)
            choice = completion.choices[0] if getattr(completion, "choices", None) else None
            if choice is None:
                raise self._with_usage(ProviderError(
                    f"{self.base_url} answered without a choice; is it an OpenAI-compatible chat-completions "
                    "endpoint?"), model, total)
            message = choice.message
            text = (getattr(message, "content", None) or "") if message is not None else ""
            used, reported = usage_of(completion, next_input, upper_tokens(text) + 8)
            if not reported:
                with self._lock:
                    self.unreported_usage_calls += 1
                log.warning("%s sent no token usage; charging the estimate (%d tokens)", self.base_url,
                            used.total_tokens)
            total = total + used
            sent_input = used.input_tokens + used.cache_read_tokens
            if tool_turns == 0 and output_retries == 0 and reported:  # the first request, as counted
                self.calibration.observe(self.name, model, first_request_tokens(request, function_tools), sent_input)
            finish = choice.finish_reason
            tool_calls = list(getattr(message, "tool_calls", None) or [])

            if tool_calls and "tools" in params:
                tool_turns += 1
                calls = [(tc.id, tc.function.name, _arguments(tc.function.arguments)) for tc in tool_calls]
                results = run_tool_turn(self.workspace, calls, request.tools)
                appended: list[dict[str, Any]] = [{
                    "role": "assistant", "content": text or None,
                    "tool_calls": [{"id": tc.id, "type": "function",
                                    "function": {"name": tc.function.name, "arguments": tc.function.arguments}}
                                   for tc in tool_calls]}]
                appended += [{"role": "tool", "tool_call_id": block["tool_use_id"],
                              "content": ("ERROR: " if block.get("is_error") else "") + block["content"]}
                             for block in results]
                messages = messages + appended
                next_input = sent_input + upper_tokens(json.dumps(appended))
                continue
            if tool_calls:
                raise self._with_usage(ProviderError(
                    f"the agent asked for tools after it was told to answer ({tool_turns} tool turns)"), model, total)

            refusal = getattr(message, "refusal", None) if message is not None else None
            if refusal or finish == "content_filter":
                raise self._with_usage(Refused(f"the model refused to answer: {refusal or finish}"), model, total)
            if finish == "length":
                raise self._with_usage(Truncated(
                    f"the answer was cut off at max_tokens={request.max_tokens} (finish_reason length) after "
                    f"{len(text)} characters; raise max_tokens or narrow the prompt"), model, total)
            if finish not in ("stop", "eos", None):
                raise self._with_usage(ProviderError(f"unexpected finish_reason {finish!r}"), model, total)

            try:
                data, correction = answer_or_correction(text, request.schema, output_retries, OUTPUT_RETRIES)
            except InvalidOutput as exc:
                raise self._with_usage(exc, model, total) from None
            if correction is not None:
                output_retries += 1
                appended = [{"role": "assistant", "content": text or "(empty)"},
                            {"role": "user", "content": correction}]
                messages = messages + appended
                next_input = sent_input + upper_tokens(json.dumps(appended))
                continue
            return CallResult(
                text=text, data=data, usage=total, cost_usd=self._cost(model, total), model=model,
                provider=self.name, stop_reason="end_turn", latency_s=time.monotonic() - started,
            )

    def _send(self, params: dict[str, Any], ctx: CallContext, model: str) -> Any:
        if ctx.cancelled.is_set():
            raise Cancelled("cancelled while the call was in progress")
        try:
            raw = self.client().chat.completions.with_raw_response.create(**params, timeout=ctx.timeout_s)
            completion = raw.parse()
        except openai.OpenAIError as exc:
            error = map_openai_error(exc, base_url=self.base_url, model=model)
            tell_scheduler(error, ctx)
            raise error from None
        except ValueError as exc:  # a 200 whose body is not JSON
            raise ProviderError(scrub(f"{self.base_url} answered with a body that is not JSON ({exc})")) from None
        state = rate_limit_state(raw.headers)
        if state:
            with self._lock:
                self.last_rate_limits = state
            wait = exhausted_wait(state)
            if wait is not None:  # none left until reset: slow down now, not after a 429 storm
                try:
                    ctx.on_rate_limit(wait)
                except Exception:
                    log.exception("on_rate_limit hook failed")
        if isinstance(completion, (str, bytes)) or not hasattr(completion, "choices"):
            raise ProviderError(f"{self.base_url} answered with something that is not a chat completion: "
                                f"{scrub(str(completion)[:200])!r}")
        return completion

    def _cost(self, model: str, usage: Usage) -> float:
        from refute.orchestration.calls import pricing

        return pricing.cost(model, usage)

    def _with_usage(self, error: ProviderError, model: str, usage: Usage) -> ProviderError:
        return with_usage(error, usage, lambda: self._cost(model, usage))

    # reservations --------------------------------------------------------------------------
    def _first_input_tokens(self, request: CallRequest) -> int:
        """The first request's input tokens: the upper estimate, calibrated (reservation.py)."""
        upper = first_request_tokens(request, function_tools)
        return self.calibration.estimate(self.name, self.model_for(request), upper)

    def worst_case(self, request: CallRequest) -> tuple[int, float]:
        """(tokens, usd) the scheduler reserves before dispatch: the first request only (its
        input and max_tokens of output); tool turns and corrective retries are reserved
        turn by turn through `ctx.extend_reservation`, as the Anthropic provider does."""
        prefix = self._first_input_tokens(request)
        return prefix + request.max_tokens, self._extra_usd(self.model_for(request), prefix + request.max_tokens,
                                                            request.max_tokens)

    def _extra_usd(self, model: str, tokens: int, out: int) -> float:
        """The most `tokens` more tokens can cost: as output if `out` covers them, the rest as input."""
        output = min(tokens, out)
        return self._cost(model, Usage(input_tokens=tokens - output, output_tokens=output))

    def full_worst_case(self, request: CallRequest) -> tuple[int, float]:
        """(tokens, usd) at most for the whole call, by the Anthropic provider's rule: the first
        request, up to RESERVED_TOOL_TURNS tool turns and OUTPUT_RETRIES corrective retries,
        each re-sending everything before it. The call's hard cap; `call()` enforces it."""
        from refute.orchestration.calls import pricing

        model = self.model_for(request)
        prefix = self._first_input_tokens(request)
        input_total, output_total = whole_call_tokens(
            prefix, request.max_tokens, tool_turns=RESERVED_TOOL_TURNS if request.tools else 0,
            retries=OUTPUT_RETRIES if request.schema is not None else 0)
        usd = pricing.cost(model, Usage(input_tokens=input_total, output_tokens=output_total))
        return input_total + output_total, usd

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None and hasattr(client, "close"):
            try:
                client.close()
            except Exception:
                log.debug("closing the OpenAI client failed", exc_info=True)


def _arguments(raw: Any) -> Any:
    """A tool call's arguments: a JSON object string (a non-object goes to the tool, which says so)."""
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw or "{}")
    except ValueError:
        return raw
