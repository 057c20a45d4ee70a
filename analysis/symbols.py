"""Symbols of a file (for agent tools and outlines), from the tables in languages.py."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from refute.analysis.definitions import definition_of
from refute.analysis.languages import CLASS_LIKE, parse, spec_for


@dataclass(frozen=True)
class Symbol:
    name: str  # qualified: "Parser.parse_expr"
    kind: str  # "class", "method", "function", "struct", ...
    start_line: int  # 0-based, inclusive
    end_line: int

    def to_dict(self) -> dict:
        return asdict(self)


def list_symbols(text: str, language: str) -> list[Symbol]:
    """Definitions in `text`, outer before inner, in file order. [] for languages
    without a grammar ("text")."""
    spec = spec_for(language)
    tree = parse(language, text.encode("utf-8", "surrogatepass")) if spec is not None else None
    if spec is None or tree is None:
        return []
    out: list[Symbol] = []
    definitions = spec.definitions
    # Explicit stack (node, qualified parent name, parent kind): no recursion limit on deep trees.
    stack = [(tree.root_node, "", "")]
    while stack:
        node, parent, parent_kind = stack.pop()
        name, kind = parent, parent_kind
        if node.type in definitions:
            info = definition_of(node, spec)
            if info is not None:
                kind = "method" if info.kind == "function" and parent_kind in CLASS_LIKE else info.kind
                name = f"{parent}.{info.name}" if parent else info.name
                out.append(Symbol(name, kind, node.start_point[0], node.end_point[0]))
                # The wrapped node (decorated, exported) would repeat the same symbol.
                if info.node.id != node.id:
                    stack.extend((c, name, kind) for c in reversed(info.node.named_children))
                    continue
        stack.extend((c, name, kind) for c in reversed(node.named_children))
    return out
