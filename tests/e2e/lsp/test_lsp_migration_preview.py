"""Migration edits previewed in the editor, and the question before a project check runs."""

import subprocess

import pytest
from lsprotocol import types

import lsp_harness as h


def git_init(ws):
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "i"]):
        subprocess.run(["git", *cmd], cwd=ws, check=True)


async def test_edits_arrive_as_one_previewed_workspace_edit(workspace):
    client = await h.start(workspace, "visual_studio_code")
    try:
        run_id = (await h.command(client, "refute.run", {"workflow": "migrate"}))["runId"]
        await h.wait_run_end(client, run_id)
        before = (workspace / "app.py").read_text()
        result = await h.command(client, "refute.applyEdits", {"runId": run_id, "preview": True})
        assert result == {"applied": ["app.py"], "refused": []}
        (request,) = client.edit_requests
        annotations = request.edit.change_annotations
        assert annotations and all(a.needs_confirmation for a in annotations.values())
        assert [a.label for a in annotations.values()] == ["refute: app.py"]
        (doc_edit,) = request.edit.document_changes
        assert doc_edit.edits and all(isinstance(e, types.AnnotatedTextEdit) and e.annotation_id in annotations
                                      for e in doc_edit.edits)
        after = (workspace / "app.py").read_text()
        assert after != before and "subprocess.run(cmd, check=True)" in after
    finally:
        await h.stop(client)


async def test_a_client_without_change_annotations_is_told_to_use_diff(workspace):
    client = await h.start(workspace, "neovim")
    try:
        run_id = (await h.command(client, "refute.run", {"workflow": "migrate"}))["runId"]
        await h.wait_run_end(client, run_id)
        result = await h.command(client, "refute.applyEdits", {"runId": run_id, "preview": True})
        assert result["applied"] == [] and f"refute apply {run_id} --diff" in result["refused"][0]["message"]
        assert client.edit_requests == []
    finally:
        await h.stop(client)


@pytest.mark.parametrize("answer", ["Allow the check", None])
async def test_the_editor_asks_before_a_run_with_a_check_command(workspace, answer):
    git_init(workspace)
    client = await h.start(workspace, "visual_studio_code", approval=answer)
    try:
        result = await h.command(client, "refute.run", {"workflow": "migrate", "checkCommand": "true {files}",
                                                         "checkTimeoutS": 30, "guide": "# Guide\n- subprocess\n"})
        (asked,) = client.message_requests
        assert "`true {files}`" in asked.message and "temporary git worktree" in asked.message
        if answer is None:
            assert result == {"declined": True}
            assert not (workspace / ".refute" / "state" / "runs").exists() or not any(
                (workspace / ".refute" / "state" / "runs").iterdir())
        else:
            await h.wait_run_end(client, result["runId"])
            check = workspace / ".refute" / "state" / "runs" / result["runId"] / "check.json"
            assert '"true {files}"' in check.read_text()
            assert (check.parent / "guide.md").read_text() == "# Guide\n- subprocess\n"
    finally:
        await h.stop(client)
