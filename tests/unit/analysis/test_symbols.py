"""Symbols per language from the definition tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from refute.analysis.languages import detect
from refute.analysis.symbols import Symbol, list_symbols

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "languages"

EXPECTED = {
    "inventory.py": {("Item", "class"), ("Inventory.add", "method"), ("Inventory.total", "method"),
                     ("load", "function")},
    "cart.js": {("Cart", "class"), ("Cart.add", "method"), ("total", "function"), ("lineIds", "function"),
                ("applyDiscount", "function")},
    "router.ts": {("Route", "interface"), ("Method", "type"), ("Status", "enum"), ("Router.dispatch", "method")},
    "Badge.tsx": {("BadgeProps", "interface"), ("Badge", "function"), ("BadgeList.render", "method")},
    "queue.go": {("Queue", "type"), ("New", "function"), ("Queue.Push", "method")},
    "matrix.rs": {("Matrix", "struct"), ("Matrix", "impl"), ("Matrix.mul", "method"), ("Shape", "trait"),
                  ("Shape.dims", "method")},
    "Account.java": {("Account", "class"), ("Account.deposit", "method"), ("Account.Listener", "interface")},
    "ringbuf.c": {("ring", "struct"), ("ring_status", "enum"), ("ring_pop", "function")},
    "shapes.cpp": {("geometry", "namespace"), ("geometry.Circle", "class"), ("geometry.Circle.area", "method"),
                   ("geometry.clamp", "function"), ("geometry_scale", "function")},
    "Thermostat.cs": {("Home.Climate", "namespace"), ("Home.Climate.Thermostat", "class"),
                      ("Home.Climate.Thermostat.Decide", "method"), ("Home.Climate.Thermostat.Target", "property")},
    "ledger.rb": {("Accounting", "module"), ("Accounting.Ledger", "class"), ("Accounting.Ledger.balance", "method")},
    "session.php": {("SessionStore", "interface"), ("FileSessionStore.get", "method"),
                    ("session_id_valid", "function")},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_symbols_per_language(name):
    text = (FIXTURES / name).read_text(encoding="utf-8")
    symbols = list_symbols(text, detect(name))
    got = {(s.name, s.kind) for s in symbols}
    assert EXPECTED[name] <= got, f"missing {EXPECTED[name] - got}"
    assert all(0 <= s.start_line <= s.end_line for s in symbols)


def test_symbol_lines_and_no_duplicates_for_wrappers():
    text = (FIXTURES / "inventory.py").read_text(encoding="utf-8")
    symbols = list_symbols(text, "python")
    total = next(s for s in symbols if s.name == "Inventory.total")
    assert total == Symbol("Inventory.total", "method", 36, 38)  # decorator line included
    assert len([s for s in symbols if s.name == "Item"]) == 1  # @dataclass wrapper not listed twice


def test_text_has_no_symbols():
    assert list_symbols("def f(): pass", "text") == []


def test_deeply_nested_code_does_not_recurse():
    text = "x = " + "[" * 3000 + "]" * 3000 + "\n"
    assert list_symbols(text, "python") == []
