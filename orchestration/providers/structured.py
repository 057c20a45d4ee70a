"""Structured output: parse a model's text as JSON and validate it against a JSON schema.

Constrained decoding (`output_config`) makes invalid output rare on the Anthropic API, but
gateways and older models may ignore it, so every answer is checked here, inside the
call, where a corrective retry is still possible. The validation itself is the one
validator of orchestration.schemas (jsonschema), so this path and the scheduler's agree.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import jsonschema

from refute.orchestration.providers.base import ProviderError

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.S)


class SchemaProblem(ValueError):
    """The schema itself is unusable (a workflow bug, not a model failure)."""


def parse_and_validate(text: str, schema: dict[str, Any]) -> tuple[Any, str | None]:
    """(data, None) when `text` is JSON valid for `schema`; (None, problem) otherwise."""
    candidate = text.strip()
    fenced = _FENCE.match(candidate)
    if fenced:
        candidate = fenced.group(1).strip()
    if not candidate:
        return None, "the answer is empty; expected a JSON value"
    try:
        data = json.loads(candidate)
    except ValueError as exc:
        return None, f"the answer is not valid JSON ({exc})"
    problem = validate(data, schema)
    return (data, None) if problem is None else (None, problem)


def check_schema(schema: dict[str, Any]) -> None:
    """SchemaProblem when `schema` is not a usable JSON schema."""
    if not isinstance(schema, dict):
        raise SchemaProblem(f"schema must be a JSON object, not {type(schema).__name__}")
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise SchemaProblem(f"invalid JSON schema: {exc.message} at {'/'.join(map(str, exc.path)) or '(root)'}") from None


def validate(data: Any, schema: dict[str, Any]) -> str | None:
    """None when valid, else the first problems, each naming its path ("$.findings[0].line: ...")."""
    from refute.orchestration.verification.schemas import validate as validate_all

    problems = validate_all(data, schema)
    return "; ".join(problems[:3]) if problems else None


def checked_request(request: Any, to_tools: Callable[[Any], list]) -> list:
    """Check a call before anything is sent: its schema (SchemaProblem named by the call's
    label) and its tools, returned as `to_tools` shapes them for this provider. Both
    become ProviderError (not retryable: the request itself is wrong)."""
    if request.schema is not None:
        try:
            check_schema(request.schema)
        except SchemaProblem as exc:
            raise ProviderError(f"{request.label or 'agent call'}: {exc}") from None
    try:
        return to_tools(request.tools) if request.tools else []
    except ValueError as exc:
        raise ProviderError(str(exc)) from None
