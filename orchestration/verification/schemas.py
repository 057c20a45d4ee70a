"""JSON schemas of agent answers: the one validator (jsonschema) and placeholder values.

One validator on every path: the scheduler's check of every answer (scripted fixtures,
gateways that ignore `output_config`), the Anthropic provider's check inside a call
(where a corrective retry is still possible) and `plan`'s dry run all call `validate`
here, so an answer accepted on one path is accepted on all (the earlier subset validator
ignored `additionalProperties`, `pattern` and `maxItems`, and scripted runs accepted
answers the Anthropic path rejected). Messages name the JSON path in the answer that
failed: `$.findings[0].severity: 'fatal' is not one of [...]`.
`placeholder(schema)` builds the smallest object that validates, which `Engine.plan`
uses to dry-run a script without calling a model.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import jsonschema

MAX_PROBLEMS = 20


def json_path(parts: Any) -> str:
    """`$.findings[0].severity` from jsonschema's deque of path parts."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate(value: Any, schema: dict[str, Any] | None) -> list[str]:
    """Problems with `value` against `schema`, each naming its JSON path (empty: valid).
    Tuples count as arrays (a script may build one)."""
    if not schema or not isinstance(schema, dict):
        return []
    try:
        validator = _validator(json.dumps(schema, sort_keys=True, default=str))
    except (TypeError, ValueError):
        cls = jsonschema.validators.validator_for(schema)
        validator = cls(schema)
    value = _as_json(value)
    errors = sorted(validator.iter_errors(value), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [f"{json_path(e.absolute_path)}: {e.message}" for e in errors[:MAX_PROBLEMS]]


def _as_json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_as_json(v) for v in value]
    if isinstance(value, list):
        return [_as_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_json(v) for k, v in value.items()}
    return value


def placeholder(schema: dict[str, Any] | None) -> Any:
    """The smallest value that satisfies `schema` (used to dry-run scripts in `plan`)."""
    if not schema or not isinstance(schema, dict):
        return ""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return placeholder(schema[key][0])
    wanted = schema.get("type")
    if isinstance(wanted, list):
        wanted = next((t for t in wanted if t != "null"), wanted[0] if wanted else None)
    if wanted is None:
        wanted = "object" if "properties" in schema else "string"
    if wanted == "object":
        props = schema.get("properties") or {}
        return {name: placeholder(props.get(name, {})) for name in schema.get("required", [])}
    if wanted == "array":
        item_schema = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return [placeholder(item_schema) for _ in range(int(schema.get("minItems", 0)))]
    if wanted == "string":
        return "x" * int(schema.get("minLength", 0))
    if wanted == "integer":
        return int(schema.get("minimum", 0))
    if wanted == "number":
        return float(schema.get("minimum", 0))
    if wanted == "boolean":
        return False
    return None
