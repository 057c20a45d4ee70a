"""Each tester finding of issue 10 as a test that failed before the fix (the path rule,
secrets as units, model-chosen edit targets, locate, the redacted-key side channel)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from refute.analysis.plan import plan_workspace
from refute.orchestration.verification.edits import EditError, EditsStore
from refute.orchestration.verification.findings import FindingsStore, locate_quote

# One planted value per documented secret-file kind (tests/e2e greps for them all).
SECRET_FILES = {
    ".env": "DB_PASSWORD=hunter2-dotenv-0001\n",
    ".env.production": "STRIPE=plain-prod-value-0002\n",
    "deploy/prod.env": "ADMIN_PASS=plain-deploy-0003\n",
    "credentials.json": '{"password": "plain-credentials-0004"}\n',
    "secrets.yaml": "db: plain-secrets-yaml-0005\n",
    ".npmrc": "//registry.npmjs.org/:_authToken=plain-npmrc-0006\n",
    "id_rsa": "plain-private-key-body-0007\n",
    "config/.aws/credentials": "aws_secret_access_key = plain-aws-0008\n",
    "certs/server.pem": "plain-pem-0009\n",
}


def plant_secrets(ws: Path) -> list[str]:
    for rel, text in SECRET_FILES.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    return [text.strip().split("=")[-1].split(": ")[-1].strip('"}{ ') for text in SECRET_FILES.values()]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text("def add(a, b):\n    return a + b\n")
    return root


def test_secret_files_never_become_units_nor_enter_the_units_cache(ws, tmp_path):
    values = plant_secrets(ws)
    cache = tmp_path / "cache"
    plan = plan_workspace(ws, cache_dir=cache)
    assert {f.path for f in plan.files} == {"app.py"}
    assert {u.path for u in plan.units} == {"app.py"}
    secret = {s.path for s in plan.skipped if s.reason == "secret"}
    assert secret == set(SECRET_FILES), secret
    blob = b"".join(p.read_bytes() for p in cache.rglob("*") if p.is_file())
    for value in values:
        assert value.encode() not in blob, value


def test_secret_files_in_a_git_work_tree_are_skipped_too(ws):
    plant_secrets(ws)
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    plan = plan_workspace(ws, use_cache=False)
    assert {f.path for f in plan.files} == {"app.py"}
    assert {s.path for s in plan.skipped if s.reason == "secret"} == set(SECRET_FILES)


def test_a_symlink_to_a_secret_and_a_never_send_glob_are_secret(ws):
    plant_secrets(ws)
    (ws / "innocent.py").symlink_to(ws / ".env")
    (ws / "conf").mkdir()
    (ws / "conf" / "prod.yaml").write_text("token: plain-policy-0010\n")
    plan = plan_workspace(ws, use_cache=False, never_send=("conf/*.yaml",))
    secret = {s.path for s in plan.skipped if s.reason == "secret"}
    assert {"innocent.py", "conf/prod.yaml"} <= secret
    assert {f.path for f in plan.files} == {"app.py"}


def test_refute_plan_json_lists_secrets_as_skipped_with_reason_secret(ws):
    plant_secrets(ws)
    refute = str(Path(sys.executable).with_name("refute"))
    out = subprocess.run([refute, "plan", str(ws), "--json", "--workspace", str(ws)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert sorted(summary["skipped_by_reason"]["secret"]) == sorted(SECRET_FILES)
    assert {"path": ".env", "reason": "secret"} in summary["skipped_detail"]


MODEL_CHOSEN_TARGETS = [".git/config", ".git/hooks/pre-commit", ".refute/workflows/audit.py",
                        ".refute/dismissed.json", ".env", "../outside.py"]


@pytest.mark.parametrize("target", MODEL_CHOSEN_TARGETS)
def test_propose_edit_refuses_vcs_refute_state_secret_and_outside(ws, tmp_path, target):
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "config").write_text("[core]\n")
    (ws / ".refute" / "workflows").mkdir(parents=True)
    store = EditsStore(ws, tmp_path / "state")
    try:
        with pytest.raises(EditError):
            store.propose(run_id="r1", path=target, new_text="[core]\n\tfsmonitor = touch /tmp/pwned\n")
        assert store.list("r1") == []
    finally:
        store.close()


def test_apply_refuses_a_stored_edit_to_git_config_even_if_one_got_recorded(ws, tmp_path):
    """An edit recorded before this rule (or by another tool) still cannot be written:
    apply asks the rule again at the moment of writing."""
    (ws / ".git").mkdir()
    (ws / ".git" / "config").write_text("[core]\n")
    store = EditsStore(ws, tmp_path / "state")
    try:
        edit = store.propose(run_id="r1", path="app.py", new_text="x = 1\n")
        record = store._cache.get(f"e:{edit.id}")
        record["path"] = ".git/config"
        record["base_hash"] = __import__("hashlib").sha256(b"[core]\n").hexdigest()
        store._cache.set(f"e:{edit.id}", record)
        [outcome] = store.apply("r1", write=False)
        assert not outcome.ok and "version-control" in outcome.message
        [outcome] = store.apply("r1")
        assert not outcome.ok
        assert (ws / ".git" / "config").read_text() == "[core]\n"
    finally:
        store.close()


def test_tool_config_edits_need_the_flag_that_names_them(ws, tmp_path):
    (ws / ".github" / "workflows").mkdir(parents=True)
    (ws / ".github" / "workflows" / "ci.yml").write_text("on: push\n")
    store = EditsStore(ws, tmp_path / "state")
    try:
        store.propose(run_id="r1", path=".github/workflows/ci.yml", new_text="on: [push, pull_request]\n")
        store.propose(run_id="r1", path=".envrc", new_text="use nix\n")
        outcomes = store.apply("r1")
        assert [o.ok for o in outcomes] == [False, False]
        assert all("--allow-tool-config" in o.message for o in outcomes)
        assert (ws / ".github/workflows/ci.yml").read_text() == "on: push\n" and not (ws / ".envrc").exists()
        outcomes = store.apply("r1", allow_tool_config=[".github/workflows/ci.yml"])
        assert {o.path: o.ok for o in outcomes} == {".github/workflows/ci.yml": True, ".envrc": False}
        assert (ws / ".github/workflows/ci.yml").read_text() == "on: [push, pull_request]\n"
    finally:
        store.close()


def test_a_symlink_swapped_in_after_the_proposal_is_refused_at_apply(ws, tmp_path):
    (ws / ".git").mkdir()
    (ws / ".git" / "config").write_text("def add(a, b):\n    return a + b\n")  # same bytes as app.py
    store = EditsStore(ws, tmp_path / "state")
    try:
        store.propose(run_id="r1", path="app.py", new_text="[core]\n\tfsmonitor = touch /tmp/pwned\n")
        (ws / "app.py").unlink()
        (ws / "app.py").symlink_to(ws / ".git" / "config")
        [outcome] = store.apply("r1")
        assert not outcome.ok
        assert "fsmonitor" not in (ws / ".git" / "config").read_text()
    finally:
        store.close()


def test_locate_never_reads_git_config_or_refute_state(ws):
    (ws / ".git").mkdir()
    (ws / ".git" / "config").write_text("[remote]\n\turl = https://token@example.com\n")
    (ws / ".refute").mkdir()
    (ws / ".refute" / "dismissed.json").write_text('{"x": 1}\n')
    assert locate_quote(ws, ".git/config", "[remote]") is None
    assert locate_quote(ws, ".refute/dismissed.json", '"x"') is None
    assert locate_quote(ws, "app.py", "return a + b") is not None


AWS_KEY = "AKIAQWERTYUIOPASDFGH"


def test_a_guess_at_a_redacted_secret_never_passes_the_quote_check(ws, tmp_path):
    """Before: quotes were checked against the file, so of four guesses at a redacted AWS
    key only the right one survived and reached refuters (a side channel)."""
    (ws / "settings.py").write_text(f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"\nREGION = "eu-west-1"\n')
    guesses = [AWS_KEY, "AKIAQWERTYUIOPASDFGX", "AKIAAAAAAAAAAAAAAAAA", "AKIAQWERTYUIOPASDFGZ"]
    store = FindingsStore(ws, tmp_path / "state")
    try:
        survived = []
        for guess in guesses:
            finding = {"path": "settings.py", "quote": f'AWS_ACCESS_KEY_ID = "{guess}"', "title": "hard-coded key",
                       "explanation": "a key in code", "severity": "error", "category": "security"}
            stored, reason = store.ingest(finding, run_id="r1", workflow="audit", provider="scripted", provenance=[])
            if stored is not None:
                survived.append(guess)
            else:
                assert "quote not found" in reason
        assert survived == []
        assert locate_quote(ws, "settings.py", f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"') is None
        # What the model saw (the redacted text) is what anchors; the span is the file's.
        seen = {"path": "settings.py", "quote": 'AWS_ACCESS_KEY_ID = "[REDACTED:aws_access_key]"',
                "title": "hard-coded key", "explanation": "a key in code", "severity": "error", "category": "security"}
        stored, reason = store.ingest(seen, run_id="r1", workflow="audit", provider="scripted", provenance=[])
        assert stored is not None, reason
        assert stored.span.start_line == 0 and AWS_KEY not in json.dumps(stored.to_dict())
    finally:
        store.close()


def test_language_server_documents_refuse_a_symlink_leading_out(tmp_path):
    from pygls.uris import from_fs_path

    from refute.server.lsp.documents import Documents

    ws, outside = tmp_path / "ws", tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    (outside / "secret.py").write_text("x = 1\n")
    (ws / "link.py").symlink_to(outside / "secret.py")
    (ws / "real.py").write_text("y = 2\n")
    docs = Documents(ws)
    assert docs.path(from_fs_path(str(ws / "link.py"))) is None
    assert docs.path(from_fs_path(str(ws / "real.py"))) == "real.py"
    assert docs.path(from_fs_path(str(outside / "secret.py"))) is None


def test_the_units_cache_holds_structure_not_text_and_a_hit_gives_the_same_units(ws, tmp_path):
    (ws / "settings.py").write_text(f'AWS = "{AWS_KEY}"\nPASSWORD = "hunter2-inline-4242"\n\ndef f():\n    return AWS\n')
    cache = tmp_path / "cache"
    first = plan_workspace(ws, cache_dir=cache)
    second = plan_workspace(ws, cache_dir=cache)
    assert second.cache_hits == 2 and [u.to_dict() for u in second.units] == [u.to_dict() for u in first.units]
    assert any(AWS_KEY in u.text for u in second.units)  # the text is the file's, read now
    blob = b"".join(p.read_bytes() for p in cache.rglob("*") if p.is_file())
    assert AWS_KEY.encode() not in blob and b"hunter2-inline-4242" not in blob
