"""A small JSON-schema subset for agent answers: validation and placeholder values.

Providers with constrained decoding already return conforming objects; this check is
the runtime's own line of defence (a scripted fixture, a gateway that ignores the schema)
and needs no third-party package. `placeholder(schema)` builds the smallest object that
validates, which `Engine.plan` uses to dry-run a script without calling a model.
Supported keywords: type (incl. lists of types), properties, required, items, enum,
const, anyOf/oneOf (first branch for placeholders), minItems, minLength, minimum.
"""

from __future__ import annotations

from typing import Any

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list, tuple),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES.get(name, (object,)))


def validate(value: Any, schema: dict[str, Any] | None, where: str = "$") -> list[str]:
    """Problems with `value` against `schema` (empty list: valid)."""
    if not schema or not isinstance(schema, dict):
        return []
    problems: list[str] = []
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = [validate(value, branch, where) for branch in schema[key]]
            if all(branches):
                problems.append(f"{where}: matches none of the {key} branches")
    if "const" in schema and value != schema["const"]:
        problems.append(f"{where}: expected {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} is not one of {schema['enum']!r}")
    wanted = schema.get("type")
    if wanted is not None:
        names = wanted if isinstance(wanted, list) else [wanted]
        if not any(_is_type(value, n) for n in names):
            problems.append(f"{where}: expected {' or '.join(names)}, got {type(value).__name__}")
            return problems
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"{where}: missing required property {name!r}")
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                problems.extend(validate(value[name], sub, f"{where}.{name}"))
    if isinstance(value, (list, tuple)):
        if len(value) < int(schema.get("minItems", 0)):
            problems.append(f"{where}: fewer than {schema['minItems']} items")
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                problems.extend(validate(item, items, f"{where}[{i}]"))
    if isinstance(value, str) and len(value) < int(schema.get("minLength", 0)):
        problems.append(f"{where}: shorter than {schema['minLength']} characters")
    return problems


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
