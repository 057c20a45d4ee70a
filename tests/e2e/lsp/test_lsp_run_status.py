"""Issue 11: one meaning of every run status. A run whose process was killed (run.json
still says "running", no process holds its lock) is "interrupted" in `refute runs`,
`refute show` and the editor's runs list alike; a finished run says the same everywhere."""

from __future__ import annotations

import json

import lsp_harness as h

from refute.server.cli import main as cli


def _runs_cli(ws, capsys) -> dict[str, str]:
    capsys.readouterr()
    assert cli(["runs", "--workspace", str(ws), "--json"]) == 0
    return {r["id"]: r["status"] for r in json.loads(capsys.readouterr().out)}


async def test_the_cli_and_the_editor_give_one_status_per_run(tmp_path, capsys):
    ws = h.make_workspace(tmp_path)
    scripted = ["--workspace", str(ws), "--provider", "scripted", "--scripted-fixture", ".refute/answers.py:answer",
                "--json", "--yes"]
    assert cli(["run", "audit", *scripted]) == 0
    done = json.loads(capsys.readouterr().out)["id"]
    assert cli(["run", "audit", "app.py", *scripted]) == 0
    killed = json.loads(capsys.readouterr().out)["id"]
    # What kill -9 leaves: the stored status says running, and no process drives the run.
    run_json = ws / ".refute" / "state" / "runs" / killed / "run.json"
    stored = json.loads(run_json.read_text())
    stored["status"] = "running"
    run_json.write_text(json.dumps(stored))

    from_cli = _runs_cli(ws, capsys)
    assert from_cli == {done: "completed", killed: "interrupted"}
    assert cli(["show", killed, "--workspace", str(ws)]) == 0
    assert "status    interrupted" in capsys.readouterr().out

    client = await h.start(ws, "visual_studio_code")
    try:
        from_editor = {r["id"]: r["status"] for r in await h.command(client, "refute.runs", {})}
    finally:
        await h.stop(client)
    assert from_editor == from_cli
