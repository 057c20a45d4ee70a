"""Imports point down only: server -> orchestration -> analysis; only server knows LSP."""

import ast
import sys
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


# --- no import cycles ---------------------------------------------------------------------

PACKAGES = {"server": "refute.server", "orchestration": "refute.orchestration", "analysis": "refute.analysis"}


def _modules() -> dict[str, Path]:
    mods: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if "workflows" in parts:  # workflow scripts are data run in the sandbox, never imported
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join([package, *parts])] = path
    return mods


def _import_graph() -> dict[str, set[str]]:
    """Every import between refute's modules, lazy and TYPE_CHECKING ones included."""
    mods = _modules()

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [source] + [f"{source}.{alias.name}" for alias in node.names]
            for target in targets:
                found = known(target)
                if found and found != module and not module.startswith(found + "."):
                    graph[module].add(found)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(component)
    return out


def test_no_import_cycle():
    # server/lsp's features get the session (server/lsp/session.py) instead of importing
    # the server module back, so no cycle is tolerated anywhere.
    assert [sorted(c) for c in _cycles(_import_graph())] == []


def test_the_cycle_check_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


def test_the_import_graph_sees_type_checking_and_lazy_imports(tmp_path, monkeypatch):
    # A back-import hidden under TYPE_CHECKING or inside a function is still a cycle.
    pkg = tmp_path / "server" / "lsp"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "server.py").write_text("from . import feature, late\n")
    (pkg / "feature.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .server import X\n")
    (pkg / "late.py").write_text("def f():\n    from refute.server.lsp.server import X\n")
    this = sys.modules[__name__]
    monkeypatch.setattr(this, "ROOT", tmp_path)
    monkeypatch.setattr(this, "PACKAGES", {"server": "refute.server"})
    assert _cycles(_import_graph()) == [{"refute.server.lsp.server", "refute.server.lsp.feature", "refute.server.lsp.late"}]


# --- orchestration shows its mechanisms ----------------------------------------------------

# The top-level seams; everything else lives in a sub-package whose name says what it holds.
SEAMS = {"engine", "errors", "model", "settings"}


def test_every_orchestration_module_is_in_a_sub_package_or_a_named_seam():
    flat = {p.stem for p in (ROOT / "orchestration").glob("*.py") if p.stem != "__init__"}
    assert flat == SEAMS
    architecture = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    for name in SEAMS:
        assert f"`{name}.py`" in architecture, f"ARCHITECTURE.md does not name the seam {name}.py"
    for package in (p for p in (ROOT / "orchestration").iterdir() if (p / "__init__.py").is_file()):
        assert f"`{package.name}/`" in architecture, f"ARCHITECTURE.md does not map orchestration/{package.name}/"
