"""Command arguments: one object; bad input is a clear invalid-params error."""

import pytest

from refute.orchestration.model import Scope
from refute.server.lsp.params import BadParams, budget, required_str, scope, single_object, workspace_path

ROOT = "/ws"


def test_single_object():
    assert single_object("refute.runs", ()) == {}
    assert single_object("refute.runs", (None,)) == {}
    with pytest.raises(BadParams, match=r"refute.run: `arguments` must be an array holding one object"):
        single_object("refute.run", (7,))
    # Issue 16: Emacs sending the object as `arguments` itself arrives as its keys; the
    # error says what form works instead of a bare "expected an object argument".
    with pytest.raises(BadParams, match=r"got str 'workflow' .*\(vector '\(:workflow"):
        single_object("refute.run", ("workflow",))
    with pytest.raises(BadParams, match="one object argument, got 2"):
        single_object("refute.run", ({}, {}))


def test_required_string_names_the_field():
    with pytest.raises(BadParams, match="refute.cancel: 'runId' is required"):
        required_str("refute.cancel", {"runId": 3}, "runId")


def test_scope_forms():
    assert scope("c", ROOT, {}) == Scope()
    assert scope("c", ROOT, {"scope": {"paths": ["./src/", "file:///ws/lib/a.py"]}}) == Scope(["src", "lib/a.py"])
    assert scope("c", ROOT, {"scope": {"paths": ["a.py"], "selection": [3, 9]}}) == Scope(["a.py"], (3, 9))


@pytest.mark.parametrize("bad, message", [
    ({"scope": "src"}, "'scope' must be an object"),
    ({"scope": {"paths": "src"}}, "must be a list"),
    ({"scope": {"paths": ["../etc"]}}, "inside the workspace"),
    ({"scope": {"paths": ["/etc/passwd"]}}, "inside the workspace"),
    ({"scope": {"paths": ["file:///elsewhere/a.py"]}}, "outside the workspace"),
    ({"scope": {"paths": ["a.py"], "selection": [9, 3]}}, "start <= end"),
    ({"scope": {"paths": ["a.py", "b.py"], "selection": [1, 2]}}, "exactly one file"),
])
def test_bad_scopes(bad, message):
    with pytest.raises(BadParams, match=message):
        scope("refute.run", ROOT, bad)


def test_budget_defaults_and_validation():
    assert budget("r", {}, (None, 2.0)).usd == 2.0
    assert budget("r", {"budgetTokens": 1000, "budgetUsd": 1}, (None, None)).tokens == 1000
    with pytest.raises(BadParams, match="'budgetTokens' must be an integer"):
        budget("r", {"budgetTokens": 1.5}, (None, None))
    with pytest.raises(BadParams, match="must not be negative"):
        budget("r", {"budgetUsd": -1}, (None, None))


def test_workspace_path_rejects_empty():
    with pytest.raises(BadParams):
        workspace_path("c", ROOT, "")


def test_a_nan_or_infinite_budget_is_refused_by_name():
    from refute.server.lsp.params import optional_number

    for bad in (float("nan"), float("inf")):
        with pytest.raises(BadParams, match="'budgetUsd' must be a finite number"):
            optional_number("refute.run", {"budgetUsd": bad}, "budgetUsd")
