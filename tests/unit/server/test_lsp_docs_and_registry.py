"""The command names clients depend on, and docs/lsp.md's settings table, stay true."""

import json
import re
from pathlib import Path

from refute.server.lsp.server import create_server
from refute.server.lsp.settings import describe_defaults

ROOT = Path(__file__).resolve().parents[3]
CONTRACT = ["refute.run", "refute.plan", "refute.cancel", "refute.pause", "refute.resume", "refute.runs",
            "refute.report", "refute.applyEdits", "refute.dismiss", "refute.restore", "refute.reverify",
            "refute.showEvidence", "refute.newWorkflow", "refute.exportSarif", "refute.findings"]


def test_every_architecture_command_is_registered_and_documented():
    server = create_server()
    registered = set(server.protocol.fm.commands)
    architecture = (ROOT / "ARCHITECTURE.md").read_text()
    docs = (ROOT / "docs" / "lsp.md").read_text()
    for name in CONTRACT:
        assert name in registered, name
        assert name.split(".")[1] in architecture, name
        assert f"`{name}`" in docs or name.split(".")[1] in docs, name


def test_settings_table_lists_every_setting_with_its_default():
    docs = (ROOT / "docs" / "lsp.md").read_text()
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", docs, flags=re.MULTILINE))
    for camel, _, default in describe_defaults():
        assert camel in rows, f"docs/lsp.md does not list {camel}"
        assert json.loads(rows[camel]) == (list(default) if isinstance(default, tuple) else default), camel


def test_heavy_features_are_not_thread_functions():
    # pygls reads stdin on its thread pool: no handler may occupy it (FACTS.md).
    from pygls.feature_manager import is_thread_function

    server = create_server()
    handlers = list(server.protocol.fm.features.values()) + list(server.protocol.fm.commands.values())
    assert handlers and not any(is_thread_function(h) for h in handlers)
