"""Imports point down only: server -> orchestration -> analysis; only server knows LSP."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(folder: str):
    for path in (ROOT / folder).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module


def _violations(folder: str, forbidden: tuple[str, ...]):
    return [
        f"{p.relative_to(ROOT)} imports {name}"
        for p, name in _imports(folder)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


def test_analysis_knows_no_agents_or_lsp():
    assert _violations("analysis", ("refute.orchestration", "refute.server", "pygls", "lsprotocol", "anthropic")) == []


def test_orchestration_knows_no_lsp():
    assert _violations("orchestration", ("refute.server", "pygls", "lsprotocol")) == []
