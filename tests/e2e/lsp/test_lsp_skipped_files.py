"""Issue 16: auditing a binary, a 5 MB or a non-UTF-8 file "completed" with no findings
and never said the file was skipped. The editor and the run's report now name them."""

import json

from lsprotocol import types

import lsp_harness as h


async def test_skipped_files_are_named_in_the_editor_and_the_report(tmp_path):
    ws = h.make_workspace(tmp_path)
    (ws / "blob.py").write_bytes(bytes(range(256)) * 8)
    (ws / "big.py").write_text("x = 1\n" * 900_000)
    (ws / "latin.py").write_bytes(b'name = "caf\xe9"\n')
    client = await h.start(ws, "neovim")
    try:
        scope = {"paths": ["app.py", "blob.py", "big.py", "latin.py"]}
        run_id = (await h.command(client, "refute.run", {"workflow": "audit", "scope": scope}))["runId"]
        token = await h.wait_run_end(client, run_id)
        end = client.progress_reports[token][-1]
        assert "3 files skipped" in end.message, end.message
        message = await h.wait_for(lambda: next((m.message for m in client.messages if "skipped" in m.message), None),
                                   what="a message naming the skipped files")
        for name, reason in (("blob.py", "binary"), ("big.py", "too large"), ("latin.py", "not UTF-8")):
            assert f"{name} ({reason}" in message, message
        assert [u for u in client.run_updates if u["runId"] == run_id][-1]["skipped"] == 3
        report = await h.command(client, "refute.report", {"runId": run_id, "format": "md"})
        assert "## Skipped files (3)" in report["content"]
        assert "- `blob.py`: binary" in report["content"]
        data = await h.command(client, "refute.report", {"runId": run_id, "format": "json"})
        assert {s["path"] for s in json.loads(data["content"])["skipped"]} == {"blob.py", "big.py", "latin.py"}
        assert client.messages[-1].type in (types.MessageType.Info, types.MessageType.Warning)
    finally:
        await h.stop(client)


def test_the_cli_names_skipped_files_as_the_run_goes(tmp_path):
    import subprocess
    import sys

    ws = h.make_workspace(tmp_path)
    (ws / "blob.py").write_bytes(bytes(range(256)) * 8)
    proc = subprocess.run(
        [sys.executable, "-m", "refute.server.cli", "run", "audit", "app.py", "blob.py", "--workspace", str(ws),
         "--provider", "scripted", "--scripted-fixture", ".refute/answers.py:answer"],
        cwd=ws, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "skipped: blob.py (binary)" in proc.stderr, proc.stderr
