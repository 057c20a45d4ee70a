"""A run started from the editor never imports the workspace's modules (issue 10): the
language server's worker starts isolated, as the CLI's does."""

import sys
from pathlib import Path

import lsp_harness as h

sys.path.insert(0, str(Path(__file__).parents[1]))
from test_isolation import imported, plant_shadow_modules  # noqa: E402


async def test_editor_run_never_imports_workspace_modules(tmp_path):
    ws = h.make_workspace(tmp_path)
    markers = tmp_path / "markers"
    markers.mkdir()
    plant_shadow_modules(ws, markers)
    client = await h.start(ws, "neovim")
    try:
        result = await h.command(client, "refute.run", {"workflow": "audit", "scope": {"paths": ["app.py"]}})
        await h.wait_run_end(client, result["runId"])
        plan = await h.command(client, "refute.plan", {"workflow": "audit", "scope": {"paths": ["app.py"]}})
        assert plan
    finally:
        await h.stop(client)
    assert imported(markers) == []
