"""refute.run's scope.since (the editor's "audit changes since REF")."""

from __future__ import annotations

import pytest

from refute.server.lsp.params import BadParams, scope


def test_scope_since_is_a_git_ref(tmp_path):
    assert scope("refute.run", str(tmp_path), {"scope": {"paths": [], "since": "origin/main"}}).since == "origin/main"
    assert scope("refute.run", str(tmp_path), {"scope": {"paths": []}}).since is None
    for bad in ("", "--output=x", 3):
        with pytest.raises(BadParams, match="scope.since"):
            scope("refute.run", str(tmp_path), {"scope": {"paths": [], "since": bad}})
