"""Planted secrets, end to end, through the real `anthropic` SDK against the loopback
Messages API (tests/fakes/messages_api.py): a workspace holds a secret in every
documented secret-file kind and inside code; `refute plan`, `refute run audit`, a
workflow whose agent asks its tools for the secret files, and `refute report` in every
format run over it. Then the test greps everything that left the process or was written:
every request body the server received, the units cache, the journal, the run store
(events, worker log), the findings store, the reports and the CLI's own output. No
planted value may appear anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

try:
    from tests.fakes.messages_api import TEST_API_KEY, FakeMessagesAPI, json_reply, text_reply, tool_use_reply
except ImportError:  # pytest started from another directory
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.fakes.messages_api import TEST_API_KEY, FakeMessagesAPI, json_reply, text_reply, tool_use_reply

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "safety"))
from test_tester_findings import SECRET_FILES, plant_secrets  # noqa: E402

REFUTE = str(Path(sys.executable).with_name("refute"))
AWS_KEY = "AKIAQWERTYUIOPASDFGH"
INLINE = {"aws": AWS_KEY, "password": "hunter2-inline-4242", "github": "ghp_0123456789abcdefghijABCDEFGHIJ012345"}
APP = f'''AWS_KEY = "{AWS_KEY}"
DB_PASSWORD = "{INLINE["password"]}"
GITHUB_TOKEN = "{INLINE["github"]}"


def connect(host):
    return open_connection(host, AWS_KEY, DB_PASSWORD)
'''
PROBE = '''
meta = {"name": "probe", "description": "an agent that asks its tools for the secret files", "phases": [], "args": {}}


def main(args):
    answer = agent("Read the configuration files and report what you find.", tools=["read_file", "search_text"],
                   label="probe")
    log("probe: " + str(locate(".env", "DB_PASSWORD")) + " " + str(locate("config/.aws/credentials", "aws")))
    return answer
'''


def responder(call):
    params = call.params
    schema = json.dumps(params.get("output_config") or {})
    messages = params["messages"]
    if "Read the configuration files" in json.dumps(messages[0]):
        if len(messages) == 1:  # first turn: ask for every secret file and grep for values
            asks = [("read_file", {"path": rel}) for rel in SECRET_FILES]
            asks += [("search_text", {"pattern": "plain-|hunter2|AKIA|ghp_"}), ("read_file", {"path": "innocent.txt"})]
            return tool_use_reply(*asks[:8])
        return text_reply("nothing readable")
    if '"findings"' in schema:
        text = json.dumps(messages)
        if "app.py" not in text:
            return json_reply({"findings": []})
        base = {"path": "app.py", "title": "Hard-coded AWS key", "explanation": "a credential in code",
                "severity": "error", "category": "security"}
        return json_reply({"findings": [
            dict(base, quote='AWS_KEY = "[REDACTED:aws_access_key]"'),  # what the model saw: anchors
            # A guess at the redacted key (the fake model knows only what it was sent, as a real
            # one does): dropped by the quote check, which runs on the text the model saw. The
            # right-guess side channel is shown in tests/unit/safety/test_tester_findings.py.
            dict(base, quote='AWS_KEY = "AKIAQWERTYUIOPASDFGX"', title="guess"),
        ]})
    if '"verdict"' in schema:
        return json_reply({"verdict": "confirmed", "reason": "the key is in the code",
                           "evidence": 'AWS_KEY = "[REDACTED:aws_access_key]"'})
    return text_reply("ok")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    plant_secrets(ws)
    (ws / "app.py").write_text(APP)
    (ws / "innocent.txt").symlink_to(ws / ".env")
    (ws / ".refute" / "workflows").mkdir(parents=True)
    (ws / ".refute" / "workflows" / "probe.py").write_text(PROBE)
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    return ws


def test_no_planted_secret_leaves_the_machine_or_lands_on_disk(workspace, tmp_path):
    values = [v for v in plant_secrets(workspace)] + list(INLINE.values())
    outputs: list[str] = []
    with FakeMessagesAPI(responder=responder) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REFUTE_", "ANTHROPIC_"))}
        env.update(ANTHROPIC_API_KEY=TEST_API_KEY, ANTHROPIC_BASE_URL=fake.url, REFUTE_CALL_TIMEOUT_S="20")

        def refute(*argv: str) -> subprocess.CompletedProcess:
            out = subprocess.run([REFUTE, *argv], cwd=workspace, env=env, capture_output=True, text=True, timeout=180)
            outputs.extend([out.stdout, out.stderr])
            return out

        plan = refute("plan", ".", "--json")
        assert plan.returncode == 0, plan.stderr
        assert set(json.loads(plan.stdout)["skipped_by_reason"]["secret"]) >= set(SECRET_FILES) | {"innocent.txt"}
        audit = refute("run", "audit", "--json", "--max-concurrency", "4")
        assert audit.returncode == 0, audit.stderr
        run_id = json.loads(audit.stdout)["id"]
        probe = refute("run", "probe", "--json")
        assert probe.returncode == 0, probe.stderr
        for fmt in ("md", "json", "sarif"):
            report = refute("report", run_id, "--format", fmt)
            assert report.returncode == 0, report.stderr
        findings = refute("findings", "--json")
        bodies = [r.raw for r in fake.requests]
        prompts = json.dumps(fake.message_bodies())

    # The run did real work: the finding survived with the redacted quote, the guess did not.
    found = json.loads(findings.stdout)
    assert [f["title"] for f in found] == ["Hard-coded AWS key"]
    assert "[REDACTED:aws_access_key]" in prompts and "You are auditing" in prompts
    assert "tool_result" in prompts and "secret" in prompts  # the tools answered, with refusals

    state = workspace / ".refute" / "state"
    on_disk = {str(p.relative_to(workspace)): p.read_bytes() for p in state.rglob("*") if p.is_file()}
    assert any("cache" in name for name in on_disk) and any("journal" in name for name in on_disk)
    assert any(name.endswith("events.jsonl") for name in on_disk)
    places = {f"request {i}": body for i, body in enumerate(bodies)}
    places.update(on_disk)
    places.update({f"cli output {i}": text.encode() for i, text in enumerate(outputs)})
    leaks = [(value, where) for value in values for where, blob in places.items() if value.encode() in blob]
    assert leaks == [], sorted(set(leaks))
