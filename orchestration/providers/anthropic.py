"""The Anthropic provider: one logical agent call per `call()`, through the `anthropic` SDK.

What it does inside one call:
- builds the request: system prompt and shared context form a cached prefix
  (`cache_control` on its last block), the unit-specific prompt follows; everything sent
  is redacted first (orchestration.secrets);
- structured output: the schema goes to `output_config` (constrained decoding); the
  answer is validated here anyway, with at most two corrective retries before
  `InvalidOutput`;
- the tool-use loop over read-only workspace tools (providers/tools.py), bounded turns;
- truncation (`max_tokens`) -> `Truncated`, refusal -> `Refused`: never parsed as empty;
- usage (input, output, cache write, cache read) and cost from orchestration.pricing.

What it does not: retry transport faults. The SDK runs with `max_retries=0`; faults are
raised as the typed errors of providers/base.py and the scheduler retries, backs off and
adjusts concurrency (it is told about 429/529 through `ctx.on_rate_limit`). The
`anthropic-ratelimit-*` headers of every answer and 429 go to `ctx.on_headers`, so the
scheduler paces dispatch before 429s happen (orchestration/calls/pacing.py). A reply
without a usage block is estimated (the request as reserved, the answer's text),
charged and flagged `estimated_usage`, never counted as 0 tokens.

Clients: the plain API (ANTHROPIC_API_KEY, or ANTHROPIC_AUTH_TOKEN for gateways), any
Anthropic-compatible endpoint by base URL, and the SDK's Bedrock, Vertex and Foundry
clients (`settings.anthropic_client`). Batch mode sends calls to the Message Batches API
(providers/batches.py).
"""

from __future__ import annotations

import email.utils
import functools
import inspect
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import anthropic

from refute.orchestration.model import CallRequest, CallResult, Usage
from refute.orchestration.providers.base import (CallContext, CallTimeout, InvalidOutput, NotConfigured, Overloaded,
    ProviderError, RateLimited, Refused, SpendLimitReached, Truncated)
from refute.orchestration.providers.anthropic_faults import (  # noqa: F401  (re-exported)
    PLAN_HINT as _PLAN_HINT,
    Cancelled,
    ConnectionLost,
    ServerError,
    error_from_type,
    is_spend_limit,
    map_api_error,
    retry_after_seconds,
    tell_scheduler,
)
from refute.orchestration.providers.reservation import (TOOL_STEP, call_ceiling, calibration_for,
    answer_or_correction, first_request_tokens, upper_tokens, whole_call_tokens, with_usage)
from refute.orchestration.providers.structured import checked_request
from refute.orchestration.providers.tools import MAX_TOOL_TURNS, recording_reads, run_tool_turn, tool_definitions
from refute.orchestration.calls.redaction import redact, register_secret, scrub
from refute.orchestration.settings import EngineSettings

log = logging.getLogger(__name__)

OUTPUT_RETRIES = 2  # corrective retries when structured output does not validate
_CACHE = {"type": "ephemeral"}
RESERVED_TOOL_TURNS = 3  # tool turns counted in the reservation (more run if they fit)


# Faults and their mapping live in anthropic_faults.py (batches.py needs them too).


def _report_headers(headers: Any, ctx: CallContext) -> None:
    """Hand the `anthropic-ratelimit-*` headers to the scheduler's pacer."""
    try:
        limits = {k.lower(): v for k, v in headers.items() if k.lower().startswith("anthropic-ratelimit-")}
        if limits:
            ctx.on_headers(limits)
    except Exception:  # pacing is an optimisation: a bad header must not fail the call
        log.debug("rate-limit headers not usable", exc_info=True)


# --- clients --------------------------------------------------------------------------------


def build_client(settings: EngineSettings, *, timeout: float | None = None) -> Any:
    """The SDK client `settings.anthropic_client` names, with SDK retries off.

    Raises NotConfigured naming what to set when credentials or required values are missing.
    """
    kind = (settings.anthropic_client or "api").lower()
    timeout = timeout or settings.call_timeout_s
    base_url = settings.anthropic_base_url or None
    common: dict[str, Any] = {"max_retries": 0, "timeout": timeout}
    try:
        if kind == "api":
            api_key = os.environ.get("ANTHROPIC_API_KEY") or None
            auth_token = None if api_key else (os.environ.get("ANTHROPIC_AUTH_TOKEN") or None)
            if not api_key and not auth_token and not os.environ.get("ANTHROPIC_PROFILE"):
                raise NotConfigured(
                    "No Anthropic credentials: set ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN for a gateway; "
                    "ANTHROPIC_BASE_URL or the anthropicBaseUrl setting for its address), or choose "
                    "anthropic_client bedrock/vertex/foundry, or provider \"scripted\". " + _PLAN_HINT)
            register_secret(api_key)
            register_secret(auth_token)
            return anthropic.Anthropic(api_key=api_key, auth_token=auth_token, base_url=base_url, **common)
        if kind == "bedrock":
            region = settings.anthropic_region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
            if not region:
                raise NotConfigured("Bedrock needs a region: set the anthropic_region setting or AWS_REGION "
                                    "(credentials come from the usual AWS chain or AWS_BEARER_TOKEN_BEDROCK). "
                                    + _PLAN_HINT)
            register_secret(os.environ.get("AWS_BEARER_TOKEN_BEDROCK"))
            return anthropic.AnthropicBedrock(aws_region=region, base_url=base_url, **common)
        if kind == "vertex":
            region = settings.anthropic_region or os.environ.get("CLOUD_ML_REGION")
            project = os.environ.get("ANTHROPIC_VERTEX_PROJECT_ID")
            if not region or not project:
                raise NotConfigured("Vertex AI needs a region and a project: set the anthropic_region setting "
                                    "(or CLOUD_ML_REGION) and ANTHROPIC_VERTEX_PROJECT_ID; credentials come from "
                                    "Google application default credentials. " + _PLAN_HINT)
            return anthropic.AnthropicVertex(region=region, project_id=project, base_url=base_url, **common)
        if kind == "foundry":
            api_key = os.environ.get("ANTHROPIC_FOUNDRY_API_KEY")
            resource = os.environ.get("ANTHROPIC_FOUNDRY_RESOURCE")
            if not (resource or base_url):
                raise NotConfigured("Microsoft Foundry needs ANTHROPIC_FOUNDRY_RESOURCE or the anthropic_base_url "
                                    "setting, and ANTHROPIC_FOUNDRY_API_KEY (or Azure AD credentials). "
                                    + _PLAN_HINT)
            register_secret(api_key)
            if base_url:
                return anthropic.AnthropicFoundry(base_url=base_url, api_key=api_key, **common)
            return anthropic.AnthropicFoundry(resource=resource, api_key=api_key, **common)
    except NotConfigured:
        raise
    except Exception as exc:  # the SDK's own configuration errors (missing extras, bad values)
        raise NotConfigured(scrub(f"cannot create the Anthropic {kind} client: {exc}. " + _PLAN_HINT)) from None
    raise NotConfigured(f"unknown anthropic_client {settings.anthropic_client!r}: use api, bedrock, vertex or "
                        "foundry. " + _PLAN_HINT)


# --- request building -----------------------------------------------------------------------


def _text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def build_first_turn(request: CallRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """(system blocks, first user content blocks, redactions) with the cache breakpoint on
    the last block of the shared prefix (system, then context)."""
    redactions = 0
    system: list[dict[str, Any]] = []
    if request.system:
        text, n = redact(request.system)
        redactions += n
        system.append(_text_block(text))
    user: list[dict[str, Any]] = []
    if request.context:
        text, n = redact(request.context)
        redactions += n
        user.append(_text_block(text))
    prompt, n = redact(request.prompt)
    redactions += n
    if request.context:
        user[-1]["cache_control"] = dict(_CACHE)
    elif system:
        system[-1]["cache_control"] = dict(_CACHE)
    user.append(_text_block(prompt or "(empty prompt)"))
    return system, user, redactions


def sendable_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema in the subset constrained decoding accepts (validation uses the original)."""
    try:
        return anthropic.transform_schema(schema)
    except (ValueError, TypeError):
        return schema


def _assistant_blocks(message: Any) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            blocks.append(_text_block(block.text))
        elif block.type == "tool_use":
            blocks.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
    return blocks


def _move_turn_breakpoint(messages: list[dict[str, Any]]) -> None:
    """Cache the growing conversation of a tool loop too: one moving breakpoint on the last
    user block (plus the fixed prefix one stays within the API's four)."""
    for msg in messages[1:]:
        if msg["role"] == "user" and isinstance(msg["content"], list):
            for block in msg["content"]:
                block.pop("cache_control", None)
    last = messages[-1]
    if len(messages) > 1 and last["role"] == "user" and isinstance(last["content"], list) and last["content"]:
        last["content"][-1]["cache_control"] = dict(_CACHE)


def usage_of(message: Any) -> Usage:
    """The usage the API reported (all zero when it sent none: the caller estimates)."""
    u = getattr(message, "usage", None)
    return Usage(
        input_tokens=int(getattr(u, "input_tokens", 0) or 0),
        output_tokens=int(getattr(u, "output_tokens", 0) or 0),
        cache_write_tokens=int(getattr(u, "cache_creation_input_tokens", 0) or 0),
        cache_read_tokens=int(getattr(u, "cache_read_input_tokens", 0) or 0),
    )


def _create_parameters(client: Any) -> frozenset[str]:
    return _parameters_of(type(client.messages))


@functools.lru_cache(maxsize=8)
def _parameters_of(messages_class: type) -> frozenset[str]:
    return frozenset(inspect.signature(messages_class.create).parameters) - {"self"}


# --- the provider ---------------------------------------------------------------------------


class AnthropicProvider:
    name = "anthropic"

    def __init__(self, settings: EngineSettings, workspace: str | os.PathLike[str], *, client: Any = None) -> None:
        self.settings = settings
        self.workspace = str(Path(workspace).resolve())
        # Built now (no network): a missing key fails the run at start, naming what to set.
        self._client = client if client is not None else build_client(settings)
        self._lock = threading.Lock()
        self._batches: Any = None
        self.calibration = calibration_for(self.workspace)  # input estimates learnt from counted usage
        self.redactions = 0  # secret-looking strings removed from everything sent, this session
        if settings.batch:  # a bad batch setting fails the run at start, not its first call
            for name in ("batch_window_s", "batch_poll_s", "batch_max_requests"):
                self._batch_option(name)

    # configuration ------------------------------------------------------------------------
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = build_client(self.settings)
            return self._client

    def ensure_configured(self) -> None:
        """NotConfigured (naming what to set) unless a client can be built; no network."""
        self.client()

    def model_for(self, request: CallRequest) -> str:
        return request.model or self.settings.model_for(request.role)

    def _batch_collector(self) -> Any:
        from refute.orchestration.providers.batches import BatchCollector

        with self._lock:
            if self._batches is None:
                state = Path(self.workspace) / ".refute" / "state" / "batches"
                self._batches = BatchCollector(
                    self._client,
                    state,
                    window_s=self._batch_option("batch_window_s"),
                    poll_s=self._batch_option("batch_poll_s"),
                    max_requests=int(self._batch_option("batch_max_requests")),
                )
            return self._batches

    def _batch_option(self, name: str) -> float:
        """A batch tuning value from the settings (REFUTE_BATCH_* on the command line, the
        editor's refute.batch* settings); the worker process gets the same settings."""
        value = getattr(self.settings, name)
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not number > 0:  # also refuses NaN
            raise NotConfigured(f"setting {name} must be a positive number, not {value!r}")
        return number

    # the call ---------------------------------------------------------------------------------
    def call(self, request: CallRequest, ctx: CallContext) -> CallResult:
        """One logical call; the files its tools read are recorded with the answer."""
        with recording_reads(self.workspace) as reads:
            result = self._call(request, ctx)
        result.reads = dict(reads)
        return result

    def _call(self, request: CallRequest, ctx: CallContext) -> CallResult:
        if ctx.cancelled.is_set():
            raise Cancelled("cancelled before the call was sent")
        self.client()
        model = self.model_for(request)
        batch = bool(self.settings.batch)
        tools = checked_request(request, tool_definitions)

        system, first_user, redactions = build_first_turn(request)
        if redactions:
            with self._lock:
                self.redactions += redactions
            log.info("redacted %d secret-looking string(s) from %s", redactions, request.label or "an agent call")
        messages: list[dict[str, Any]] = [{"role": "user", "content": first_user}]
        options = dict(request.options or {})
        started = time.monotonic()
        total = Usage()
        tool_turns = 0
        output_retries = 0
        estimated = False  # the API sent no usage for some turn: `total` holds an estimate
        # The reservation is a promise: every request is checked against it before it is
        # sent, and tool use stops early when another turn could break it. With a
        # scheduler (`ctx.extend_reservation`) the call reserves its first request only
        # and grows the reservation turn by turn; without one, the ceiling is the whole
        # worst case (`full_worst_case`).
        out = request.max_tokens
        ceiling, retry_room = call_ceiling(self, request, ctx, model, OUTPUT_RETRIES)
        next_input = self._first_input_tokens(request)

        while True:
            params: dict[str, Any] = {"model": model, "max_tokens": out, "messages": messages}
            if system:
                params["system"] = system
            if request.schema is not None:
                params["output_config"] = {"format": {"type": "json_schema",
                                                      "schema": sendable_schema(request.schema)}}
            spent = total.total_tokens
            problem = ceiling.fit_turn(spent, next_input, out, retry_room=retry_room,
                                       may_use_tools=bool(tools) and tool_turns < MAX_TOOL_TURNS)
            if problem:
                raise self._with_usage((InvalidOutput if output_retries else ProviderError)(problem), model, total, batch)
            if tools:
                params["tools"] = tools
                # Another tool turn must leave room for a final answer (and its retries).
                room_after = ceiling.value - (spent + next_input + out)
                final_after = next_input + out + TOOL_STEP + out
                if tool_turns >= MAX_TOOL_TURNS or room_after < final_after + retry_room:
                    params["tool_choice"] = {"type": "none"}  # this turn must answer
            if self.settings.inference_geo:
                params["inference_geo"] = self.settings.inference_geo
            for key in ("temperature", "top_p", "top_k", "stop_sequences"):
                if key in options:
                    params[key] = options[key]
            message = self._send(params, request, ctx, batch)
            used = usage_of(message)
            if used.total_tokens <= 0:
                # No usage block (some gateways): estimate it (the request as reserved, the
                # answer's text), charge the estimate and flag it; never count 0.
                used = Usage(input_tokens=next_input, output_tokens=upper_tokens(json.dumps(
                    _assistant_blocks(message))))
                estimated = True
            total = total + used
            sent_input = used.input_tokens + used.cache_write_tokens + used.cache_read_tokens
            if tool_turns == 0 and output_retries == 0 and not estimated:  # the first request, as counted
                self.calibration.observe(self.name, model, first_request_tokens(request, tool_definitions), sent_input)
            stop = message.stop_reason

            if stop == "tool_use" and tools:
                if "tool_choice" in params:
                    raise self._with_usage(ProviderError(
                        f"the agent asked for tools after it was told to answer ({tool_turns} tool turns)"),
                        model, total, batch)
                tool_turns += 1
                calls = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
                appended = [{"role": "assistant", "content": _assistant_blocks(message)},
                            {"role": "user", "content": run_tool_turn(self.workspace, calls, request.tools,
                                                                      never_send=self.settings.never_send)}]
                messages = messages + appended
                _move_turn_breakpoint(messages)
                next_input = sent_input + upper_tokens(json.dumps(appended))
                continue

            text = "".join(b.text for b in message.content if b.type == "text")
            if stop in ("max_tokens", "model_context_window_exceeded"):
                raise self._with_usage(Truncated(
                    f"the answer was cut off at max_tokens={request.max_tokens} ({stop}) after {len(text)} "
                    "characters; raise max_tokens or narrow the prompt"), model, total, batch)
            if stop == "refusal":
                details = getattr(message, "stop_details", None)
                why = getattr(details, "explanation", None) or getattr(details, "category", None) or "no reason given"
                raise self._with_usage(Refused(f"the model refused to answer: {why}"), model, total, batch)
            if stop not in ("end_turn", "stop_sequence", None):
                raise self._with_usage(ProviderError(f"unexpected stop_reason {stop!r}"), model, total, batch)

            try:
                data, correction = answer_or_correction(text, request.schema, output_retries, OUTPUT_RETRIES)
            except InvalidOutput as exc:
                raise self._with_usage(exc, model, total, batch) from None
            if correction is not None:
                output_retries += 1
                appended = [{"role": "assistant", "content": [_text_block(text or "(empty)")]},
                            {"role": "user", "content": [_text_block(correction)]}]
                messages = messages + appended
                next_input = sent_input + upper_tokens(json.dumps(appended))
                continue
            return CallResult(
                text=text,
                data=data,
                usage=total,
                cost_usd=self._cost(model, total, batch),
                model=getattr(message, "model", None) or model,
                provider=self.name,
                stop_reason=stop or "end_turn",
                latency_s=time.monotonic() - started,
                estimated_usage=estimated,
            )

    def _send(self, params: dict[str, Any], request: CallRequest, ctx: CallContext, batch: bool) -> Any:
        if ctx.cancelled.is_set():
            raise Cancelled("cancelled while the call was in progress")
        if batch:
            return self._batch_collector().call(request.key(), params, ctx)
        # Parameters this SDK's create() has no argument for (temperature in 2.11) travel
        # in the body as they are.
        accepted = _create_parameters(self.client())
        named = {k: v for k, v in params.items() if k in accepted}
        extra = {k: v for k, v in params.items() if k not in accepted}
        messages = self.client().messages
        try:
            raw_api = getattr(messages, "with_raw_response", None)
            if raw_api is None:  # a client without raw responses: no headers to pace by
                return messages.create(**named, extra_body=extra or None, timeout=ctx.timeout_s)
            raw = raw_api.create(**named, extra_body=extra or None, timeout=ctx.timeout_s)
            _report_headers(raw.headers, ctx)
            return raw.parse()
        except anthropic.AnthropicError as exc:
            response = getattr(exc, "response", None)
            if response is not None:
                _report_headers(response.headers, ctx)
            error = map_api_error(exc)
            tell_scheduler(error, ctx)
            raise error from None

    def _cost(self, model: str, usage: Usage, batch: bool) -> float:
        from refute.orchestration.calls import pricing

        return pricing.cost(model, usage, batch=batch)

    def _with_usage(self, error: ProviderError, model: str, usage: Usage, batch: bool) -> ProviderError:
        return with_usage(error, usage, lambda: self._cost(model, usage, batch))

    # reservations -----------------------------------------------------------------------------
    def _first_input_tokens(self, request: CallRequest) -> int:
        """The first request's input tokens: the upper estimate, calibrated (reservation.py)."""
        upper = first_request_tokens(request, tool_definitions)
        return self.calibration.estimate(self.name, self.model_for(request), upper)

    def input_estimate(self, request: CallRequest) -> int:
        """Input tokens of the first request (calibrated; the pacer calibrates it further)."""
        return self._first_input_tokens(request)

    def worst_case(self, request: CallRequest) -> tuple[int, float]:
        """(tokens, usd) the scheduler reserves before dispatch: the first request only
        (its input and max_tokens of output). Tool turns and corrective retries are
        reserved turn by turn through `ctx.extend_reservation` when they happen: reserving
        them all up front (162,000 tokens for a refuter with tools) ended budgeted runs at
        a few percent of their budget."""
        from refute.orchestration.calls import pricing

        model = self.model_for(request)
        prefix = self._first_input_tokens(request)
        out = request.max_tokens
        return prefix + out, self._extra_usd(model, prefix, out)

    def _extra_usd(self, model: str, tokens: int, out: int) -> float:
        """The most `tokens` more tokens can cost: as output if out covers them, the rest as
        input at the dearer of the plain and cache-write prices."""
        from refute.orchestration.calls import pricing

        output = min(tokens, out)
        inp = tokens - output
        price = pricing.price(model)
        batch = bool(self.settings.batch)
        as_input = Usage(input_tokens=inp, output_tokens=output)
        as_cache_write = Usage(cache_write_tokens=inp, output_tokens=output)
        return pricing.cost(model, as_cache_write if price.cache_write >= price.input else as_input, batch=batch)

    def full_worst_case(self, request: CallRequest) -> tuple[int, float]:
        """(tokens, usd) at most for the whole call: the first request, up to
        RESERVED_TOOL_TURNS tool turns and OUTPUT_RETRIES corrective retries, each
        re-sending the prefix plus everything appended before it. The hard cap of one call
        (and its ceiling when no scheduler extends the reservation); more tool turns (up
        to MAX_TOOL_TURNS) happen only when earlier ones were cheaper."""
        from refute.orchestration.calls import pricing

        model = self.model_for(request)
        prefix = self._first_input_tokens(request)
        input_total, output_total = whole_call_tokens(
            prefix, request.max_tokens, tool_turns=RESERVED_TOOL_TURNS if request.tools else 0,
            retries=OUTPUT_RETRIES if request.schema is not None else 0)
        batch = bool(self.settings.batch)
        # Input counted at the dearer of the plain and cache-write prices.
        price = pricing.price(model)
        as_input = Usage(input_tokens=input_total, output_tokens=output_total)
        as_cache_write = Usage(cache_write_tokens=input_total, output_tokens=output_total)
        usd = pricing.cost(model, as_cache_write if price.cache_write >= price.input else as_input, batch=batch)
        return input_total + output_total, usd

    def count_input_tokens(self, request: CallRequest) -> int:
        """Exact input tokens of the first request, from the API's count_tokens endpoint."""
        system, first_user, _ = build_first_turn(request)
        params: dict[str, Any] = {"model": self.model_for(request),
                                  "messages": [{"role": "user", "content": first_user}]}
        if system:
            params["system"] = system
        if request.tools:
            params["tools"] = tool_definitions(request.tools)
        try:
            return int(self.client().messages.count_tokens(**params).input_tokens)
        except anthropic.AnthropicError as exc:
            raise map_api_error(exc) from None

    def close(self) -> None:
        with self._lock:
            batches, self._batches = self._batches, None
            client = self._client
        if batches is not None:
            batches.close()
        if client is not None and hasattr(client, "close"):
            try:
                client.close()
            except Exception:
                log.debug("closing the Anthropic client failed", exc_info=True)
