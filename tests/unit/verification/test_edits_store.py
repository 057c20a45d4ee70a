"""Proposed edits: nothing is written until apply; apply refuses files changed since."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from refute.orchestration.verification.edits import EditError, EditsStore


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.py").write_text("import os\n\ndef f():\n    return os.getcwd()\n")
    (root / "b.py").write_text("x = 1\n")
    return root


@pytest.fixture
def edits(ws, tmp_path):
    store = EditsStore(ws, tmp_path / "state")
    yield store
    store.close()


def test_propose_writes_nothing_and_records_the_base_hash(edits, ws):
    before = (ws / "a.py").read_bytes()
    edit = edits.propose(run_id="r1", path="a.py", old_text="os.getcwd()", replacement="os.fspath('.')",
                         reason="no cwd", reviews=[{"verdict": "approve", "reason": "ok"}], provider="scripted")
    assert (ws / "a.py").read_bytes() == before
    assert edit.base_hash == hashlib.sha256(before).hexdigest()
    assert edit.new_text.endswith("return os.fspath('.')\n")
    assert edit.reviews[0].verdict == "approve" and edit.provider == "scripted"
    assert edits.get(edit.id).new_text == edit.new_text
    assert [e.path for e in edits.list("r1")] == ["a.py"]


def test_proposals_for_one_file_compose(edits, ws):
    edits.propose(run_id="r1", path="a.py", old_text="import os", replacement="import os.path")
    edit = edits.propose(run_id="r1", path="a.py", old_text="def f():", replacement="def g():")
    assert len(edits.list("r1")) == 1
    assert edit.new_text.startswith("import os.path\n\ndef g():")
    [outcome] = edits.apply("r1")
    assert outcome.ok, outcome.message
    assert (ws / "a.py").read_text().startswith("import os.path\n\ndef g():")


@pytest.mark.parametrize("path,why", [
    ("../x.py", "'..'"), ("/etc/hosts", "outside the workspace"), ("missing.py", "no such file"),
])
def test_paths_outside_the_workspace_are_refused(edits, path, why):
    with pytest.raises(EditError, match=why):
        edits.propose(run_id="r1", path=path, old_text="a", replacement="b")


def test_symlink_leading_out_is_refused(edits, ws, tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text("y = 2\n")
    os.symlink(outside, ws / "link.py")
    with pytest.raises(EditError, match="outside the workspace"):
        edits.propose(run_id="r1", path="link.py", new_text="y = 3\n")
    assert outside.read_text() == "y = 2\n"


def test_bad_edits_are_clear_errors(edits, ws):
    (ws / "dup.py").write_text("a = 1\na = 1\n")
    with pytest.raises(EditError, match="2 times"):
        edits.propose(run_id="r1", path="dup.py", old_text="a = 1", replacement="a = 2")
    with pytest.raises(EditError, match="not found"):
        edits.propose(run_id="r1", path="b.py", old_text="zzz", replacement="y")
    with pytest.raises(EditError, match="changes nothing"):
        edits.propose(run_id="r1", path="b.py", new_text="x = 1\n")
    with pytest.raises(EditError, match="give new_text"):
        edits.propose(run_id="r1", path="b.py")


def test_apply_refuses_a_file_edited_since_and_applies_the_rest(edits, ws):
    edits.propose(run_id="r1", path="a.py", new_text="print('a')\n")
    edits.propose(run_id="r1", path="b.py", new_text="x = 2\n")
    (ws / "a.py").write_text("# someone edited this\n")
    outcomes = {o.path: o for o in edits.apply("r1")}
    assert not outcomes["a.py"].ok and "changed since" in outcomes["a.py"].message
    assert (ws / "a.py").read_text() == "# someone edited this\n"
    assert outcomes["b.py"].ok and (ws / "b.py").read_text() == "x = 2\n"
    # Applying again does not write twice.
    again = {o.path: o for o in edits.apply("r1", ["b.py"])}
    assert not again["b.py"].ok and "already applied" in again["b.py"].message


def test_dry_run_checks_only_and_mark_applied(edits, ws):
    edit = edits.propose(run_id="r1", path="b.py", new_text="x = 3\n")
    [outcome] = edits.apply("r1", write=False)
    assert outcome.ok and (ws / "b.py").read_text() == "x = 1\n"
    edits.mark_applied(edit.id)
    assert edits.get(edit.id).state == "applied"


def test_apply_unknown_path_is_reported(edits):
    [outcome] = edits.apply("r1", ["nope.py"])
    assert not outcome.ok and "proposed no edit" in outcome.message


def test_new_file_creation_refused_if_it_appeared(edits, ws):
    edits.propose(run_id="r1", path="new.py", new_text="z = 1\n")
    (ws / "new.py").write_text("other\n")
    [outcome] = edits.apply("r1")
    assert not outcome.ok and (ws / "new.py").read_text() == "other\n"


def test_applied_file_keeps_its_mode(edits, ws):
    os.chmod(ws / "b.py", 0o755)
    edits.propose(run_id="r1", path="b.py", new_text="x = 4\n")
    [outcome] = edits.apply("r1")
    assert outcome.ok and (os.stat(ws / "b.py").st_mode & 0o777) == 0o755


def test_secret_files_and_redaction_markers_are_refused(edits, ws):
    (ws / ".env").write_text("TOKEN=abc\n")
    with pytest.raises(EditError, match="secret file"):
        edits.propose(run_id="r1", path=".env", new_text="TOKEN=def\n")
    (ws / "cfg.py").write_text("PASSWORD = 'hunter2-prod'\n")
    with pytest.raises(EditError, match="redaction marker"):
        edits.propose(run_id="r1", path="cfg.py", old_text="PASSWORD = '[REDACTED:password]'",
                      replacement="PASSWORD = '[REDACTED:password]'  # noqa")
    edit = edits.propose(run_id="r1", path="cfg.py", old_text="PASSWORD = '[REDACTED:password]'",
                         replacement="PASSWORD = os.environ['PASSWORD']")
    assert edit.new_text == "PASSWORD = os.environ['PASSWORD']\n"
