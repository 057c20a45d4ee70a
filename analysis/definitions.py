"""Reading definition nodes (name, kind, signature) with the tables in languages.py."""

from __future__ import annotations

import re
from dataclasses import dataclass

import tree_sitter

from refute.analysis.languages import LanguageSpec

_MAX_NAME = 80
_MAX_SIGNATURE = 160
_LEADING_SIGILS = re.compile(r"^[&*\s]*(?:mut\s+|dyn\s+)?")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class DefInfo:
    name: str
    kind: str
    node: tree_sitter.Node  # the definition itself (wrappers such as decorators unwrapped)


def _follow(node: tree_sitter.Node | None, steps: tuple[str, ...]) -> tree_sitter.Node | None:
    for step in steps:
        if node is None:
            return None
        if step.startswith("#"):
            wanted = step[1:]
            node = next((c for c in node.named_children if c.type == wanted), None)
        elif step.endswith("*"):
            name = step[:-1]
            nxt = node.child_by_field_name(name)
            if nxt is None:
                return None
            while nxt is not None:
                node, nxt = nxt, nxt.child_by_field_name(name)
        else:
            node = node.child_by_field_name(step)
    return node


def _clean(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if text.isidentifier():  # the common case, without the regex
        return text[:_MAX_NAME]
    text = text.strip().split("\n", 1)[0]
    return _LEADING_SIGILS.sub("", text)[:_MAX_NAME].strip()


def definition_of(node: tree_sitter.Node, spec: LanguageSpec) -> DefInfo | None:
    """The definition `node` introduces, or None when it is not a (named) definition."""
    entry = spec.definitions.get(node.type)
    if entry is None:
        return None
    inner = node
    while entry.unwrap is not None:
        if entry.unwrap:
            wrapped = inner.child_by_field_name(entry.unwrap)
        else:
            named = inner.named_children
            wrapped = named[-1] if named else None
        if wrapped is None:
            return None
        entry = spec.definitions.get(wrapped.type)
        if entry is None:
            return None
        inner = wrapped
    if entry.needs_body and inner.child_by_field_name("body") is None:
        return None
    if entry.value:
        value = _follow(inner, entry.value)
        if value is None or value.type not in entry.value_types:
            return None
    name_node = _follow(inner, entry.name)
    if name_node is None or name_node.text is None:
        return None
    name = _clean(name_node.text)
    if not name:
        return None
    kind = entry.kind
    if entry.qualifier:
        qualifier = _follow(inner, entry.qualifier)
        if qualifier is not None and qualifier.text:
            name = f"{_clean(qualifier.text).split('[')[0]}.{name}"
            kind = "method"
    return DefInfo(name, kind, inner)


def signature_of(definition: DefInfo, data: bytes) -> str:
    """The definition's head (up to its body), whitespace collapsed, for context headers."""
    node = definition.node
    body = node.child_by_field_name("body")
    end = body.start_byte if body is not None and body.start_byte > node.start_byte else None
    if end is None:
        newline = data.find(b"\n", node.start_byte, node.end_byte)
        end = newline if newline >= 0 else node.end_byte
    head = data[node.start_byte:end].decode("utf-8", "replace")
    head = _SPACES.sub(" ", head).strip()
    if len(head) > _MAX_SIGNATURE:
        head = head[: _MAX_SIGNATURE - 1] + "…"
    return head
