"""Workflow scripts: resolution order, static meta, bundled scripts read as text."""

from __future__ import annotations

import pytest

from refute.orchestration.sandbox.scripts import WorkflowNotFound, available, check_source, resolve, static_meta


def test_bundled_workflows_are_read_as_text_and_pass_the_check(tmp_path):
    bundled = [w for w in available(tmp_path) if w.origin == "bundled"]
    assert {"audit"} <= {w.name for w in bundled}
    for w in bundled:
        assert "def main(" in w.source
        assert check_source(w.source, w.filename) == [], w.name
    import sys

    assert "refute.orchestration.workflows.audit" not in sys.modules  # never imported


def test_resolution_order_path_then_workspace_then_bundled(tmp_path):
    folder = tmp_path / ".refute" / "workflows"
    folder.mkdir(parents=True)
    (folder / "audit.py").write_text("meta = {'name': 'audit', 'description': 'mine'}\ndef main(args):\n    return 1\n")
    assert resolve(tmp_path, "audit").origin == "workspace"
    (tmp_path / "other.py").write_text("meta = {'name': 'custom'}\ndef main(args):\n    return 2\n")
    by_path = resolve(tmp_path, "other.py")
    assert by_path.origin == "file" and by_path.name == "custom" and by_path.path == "other.py"
    with pytest.raises(WorkflowNotFound) as info:
        resolve(tmp_path, "nope")
    assert "audit" in str(info.value)


def test_static_meta_reads_literals_only():
    assert static_meta("meta = {'name': 'x', 'args': {'k': 1}}\n") == {"name": "x", "args": {"k": 1}}
    assert static_meta("meta = dict(name='x')\n") == {}
    problems = check_source("meta = dict(name='x')\ndef main(args):\n    pass\n")
    assert [(p.line, p.message) for p in problems] == [(0, "`meta` must be a dict literal")]


def test_problems_are_zero_based_and_named():
    problems = check_source("meta = {'name': 'x'}\n\ndef main(args):\n    import os\n    x.__dict__\n")
    assert [(p.line, p.message.split(" ")[0]) for p in problems] == [(3, "import"), (4, '"__dict__"')]
    assert "'os' is not allowed" in problems[0].message
    assert str(problems[1]).startswith("line 5:")
