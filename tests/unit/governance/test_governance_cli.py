"""Each admin-policy rule through the CLI (exit 2 and a message naming the rule), the
approval prompt of `refute run`, `refute policy`, `refute usage`, and `refute export`
validated against its shipped JSON schema. Real engine, worker processes, the scripted
provider; the policy is a tmp file named by REFUTE_POLICY."""

from __future__ import annotations

import csv
import io
import json
import shutil
import textwrap
from pathlib import Path

import jsonschema
import pytest

from refute.orchestration.governance import record
from refute.orchestration.governance.ledger import SpendLedger, default_dir
from refute.server.cli import main as cli

TEMPLATE = Path(__file__).resolve().parents[2] / "e2e" / "lsp" / "workspace"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(TEMPLATE, root)
    return root


@pytest.fixture
def policy(tmp_path, monkeypatch):
    path = tmp_path / "policy.toml"

    def write(text: str) -> Path:
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        monkeypatch.setenv("REFUTE_POLICY", str(path))
        return path

    return write


def scripted(ws: Path) -> list[str]:
    return ["--workspace", str(ws), "--provider", "scripted", "--scripted-fixture", f"{ws / '.refute' / 'answers.py'}:answer"]


def run(capsys, argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def refused(capsys, argv: list[str], rule: str) -> str:
    code, _out, err = run(capsys, argv)
    assert code == 2, err
    assert f"rule {rule}:" in err, err
    return err


def test_workflow_rules_refuse_run_and_plan(ws, policy, capsys):
    policy("[workflows]\nenabled = false\n")
    refused(capsys, ["run", "audit", "--yes"] + scripted(ws), "workflows.enabled")
    policy("[workflows]\nallowed = ['migrate']\n")
    err = refused(capsys, ["run", "audit"] + scripted(ws), "workflows.allowed")
    assert "'audit' is not allowed (allowed: migrate)" in err
    refused(capsys, ["plan", str(ws), "--workflow", "audit"], "workflows.allowed")
    assert not (ws / ".refute" / "state" / "runs").exists() or not any((ws / ".refute" / "state" / "runs").iterdir())


def test_provider_endpoint_region_and_model_rules(ws, policy, capsys, monkeypatch):
    policy("[providers]\nallowed = ['anthropic']\n")
    refused(capsys, ["run", "audit", "--yes"] + scripted(ws), "providers.allowed")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-real")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9/anthropic")
    anthropic = ["--workspace", str(ws), "--provider", "anthropic", "--yes"]
    policy("[providers]\nendpoints = ['https://gateway.example.com']\n")
    err = refused(capsys, ["run", "audit"] + anthropic, "providers.endpoints")
    assert "http://127.0.0.1:9/anthropic" in err
    policy("[providers]\nregions = ['eu']\n")
    refused(capsys, ["run", "audit"] + anthropic, "providers.regions")
    monkeypatch.setenv("REFUTE_INFERENCE_GEO", "us")
    err = refused(capsys, ["run", "audit"] + anthropic, "providers.regions")
    assert "region 'us' is not allowed" in err
    policy("[providers]\nmodels = ['claude-haiku-4-5']\n")
    refused(capsys, ["run", "audit", "--yes"] + scripted(ws), "providers.models")


def test_a_script_naming_a_forbidden_model_gets_its_call_refused(ws, policy, capsys, monkeypatch):
    (ws / ".refute" / "workflows" / "sneaky.py").write_text(textwrap.dedent('''
        meta = {"name": "sneaky", "description": "asks a model the policy forbids", "phases": [], "args": {}}

        def main(args):
            return agent("hello", model="claude-sonnet-5-5")
    '''))
    for role in ("DEFAULT", "FINDER", "REFUTER", "EDITOR"):
        monkeypatch.setenv(f"REFUTE_MODEL_{role}", "claude-haiku-4-5")
    policy("[providers]\nmodels = ['claude-haiku-4-5']\n")
    code, out, _err = run(capsys, ["run", "sneaky", "--yes", "--json"] + scripted(ws))
    info = json.loads(out[out.index("{"):])
    assert code != 0 and info["status"] in ("failed", "completed with failures"), info
    assert "rule providers.models" in info["error"] and info["usage"]["input_tokens"] == 0


def test_budget_rules(ws, policy, capsys):
    policy("[budget]\nmax_usd_per_run = 1.0\nmax_tokens_per_run = 900000\n")
    refused(capsys, ["run", "audit", "--yes", "--budget-usd", "5"] + scripted(ws), "budget.max_usd_per_run")
    refused(capsys, ["run", "audit", "--yes", "--budget-tokens", "900001"] + scripted(ws), "budget.max_tokens_per_run")
    code, out, err = run(capsys, ["run", "audit", "--yes", "--json"] + scripted(ws))
    assert code == 0, err
    assert json.loads(out[out.index("{"):])["budget"] == {"tokens": 900000, "usd": 1.0}, "no budget: the maximum"


def test_daily_cap_lowers_the_budget_then_refuses(ws, policy, capsys):
    policy("[budget]\nmax_usd_per_user_per_day = 2.0\n")
    ledger = SpendLedger(default_dir())
    ledger.reserve("earlier", ws, 1.5, cap=None)
    ledger.settle("earlier", ws, "audit", 1.25, 1000)
    code, out, err = run(capsys, ["run", "audit", "--yes", "--json"] + scripted(ws))
    assert code == 0, err
    info = json.loads(out[out.index("{"):])
    assert info["budget"]["usd"] == pytest.approx(0.75), "what is left of today's cap"
    assert ledger.summary()["open_reservations"] == [], "the finished run settled"
    ledger.settle("other-workspace", ws.parent / "elsewhere", "ask", 0.75, 10)
    err = refused(capsys, ["run", "audit", "--yes"] + scripted(ws), "budget.max_usd_per_user_per_day")
    assert "resets at 00:00 UTC" in err
    code, out, _ = run(capsys, ["usage", "--json"])
    usage = json.loads(out)
    assert code == 0 and usage["daily_cap_usd"] == 2.0 and usage["left_today_usd"] == 0


def test_approval_threshold_asks_on_a_terminal_refuses_without_one(ws, policy, capsys, monkeypatch):
    policy("[approval]\nthreshold_calls = 1\n")
    code, _out, err = run(capsys, ["run", "audit"] + scripted(ws))
    assert code == 2 and "needs approval" in err and "pass --yes" in err, err
    assert "agent calls" in err and "(threshold 1)" in err and "worst case $" in err, "the estimate is shown"

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, _out, err = run(capsys, ["run", "audit"] + scripted(ws))
    assert code == 2 and "Start it? [y/N]" in err and "not approved" in err
    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, _out, err = run(capsys, ["run", "audit"] + scripted(ws))
    assert code == 0, err
    code, _out, err = run(capsys, ["run", "audit", "--yes"] + scripted(ws))
    assert code == 0 and "Start it?" not in err


def test_edits_rule_refuses_apply(ws, policy, capsys):
    code, out, err = run(capsys, ["run", "migrate", "--json"] + scripted(ws))
    assert code == 0, err
    run_id = json.loads(out[out.index("{"):])["id"]
    policy("[edits]\nallow_apply = false\n")
    refused(capsys, ["apply", run_id, "--workspace", str(ws)], "edits.allow_apply")
    refused(capsys, ["apply", run_id, "--dry-run", "--workspace", str(ws)], "edits.allow_apply")
    assert "os.system(cmd)" in (ws / "app.py").read_text(), "nothing written"


def test_a_broken_policy_stops_everything_and_refute_policy_shows_the_source(ws, policy, capsys, tmp_path):
    path = policy("[workflows]\nallowed = ['audit']\n[approval]\nthreshold_usd = 2\n")
    code, out, _ = run(capsys, ["policy"])
    assert code == 0 and str(path) in out and 'workflows.allowed' in out and '["audit"]' in out
    code, out, _ = run(capsys, ["policy", "--json"])
    assert json.loads(out)["approval_threshold_usd"] == 2.0
    path.write_text("[workflows\n")
    code, _, err = run(capsys, ["policy"])
    assert code == 2 and "not valid TOML" in err
    code, _, err = run(capsys, ["run", "audit", "--yes"] + scripted(ws))
    assert code == 2 and "not valid TOML" in err
    path.unlink()
    code, _, err = run(capsys, ["run", "audit", "--yes"] + scripted(ws))
    assert code == 2 and "does not exist" in err


def test_export_is_a_valid_versioned_record_without_file_contents(ws, capsys):
    code, out, err = run(capsys, ["run", "audit", "--json"] + scripted(ws))
    assert code == 0, err
    run_id = json.loads(out[out.index("{"):])["id"]
    findings = json.loads(run(capsys, ["report", run_id, "--format", "json", "--workspace", str(ws)])[1])["findings"]
    fingerprint = findings[0]["fingerprint"]
    assert run(capsys, ["dismiss", fingerprint, "--reason", "accepted risk", "--workspace", str(ws)])[0] == 0
    code, out, err = run(capsys, ["run", "migrate", "--json"] + scripted(ws))
    migrate_id = json.loads(out[out.index("{"):])["id"]
    assert run(capsys, ["apply", migrate_id, "--workspace", str(ws)])[0] == 0

    code, out, err = run(capsys, ["export", run_id, "--workspace", str(ws)])
    assert code == 0, err
    doc = json.loads(out)
    jsonschema.validate(doc, record.schema())
    assert doc["schema_version"] == record.SCHEMA_VERSION
    assert doc["workflow"]["name"] == "audit" and len(doc["workflow"]["script_sha256"]) >= 16
    [start] = doc["starts"]
    assert start["started_by"].startswith("cli:") and start["host"] and start["pid"] and start["workspace"] == str(ws)
    assert start["policy"]["source"] == "(no policy file)"
    finders = [c for c in doc["calls"] if (c["label"] or "").startswith("audit:find")]
    assert {p for c in finders for p in c["paths_sent"]} >= {"app.py", "lib/util.py"}
    assert all(c["outcome"] == "ok" and c["input_tokens"] > 0 for c in finders)
    assert {f["fingerprint"] for f in doc["findings"]} >= {fingerprint}
    assert all(v["verdict"] == "confirmed" for f in doc["findings"] for v in f["verdicts"])
    [dismissal] = doc["dismissals"]
    assert dismissal["fingerprint"] == fingerprint and dismissal["why"] == "accepted risk" and dismissal["who"]
    assert "os.system(cmd)" not in out and "range(len(items) + 1)" not in out, "no code in the record"

    doc = json.loads(run(capsys, ["export", migrate_id, "--workspace", str(ws)])[1])
    jsonschema.validate(doc, record.schema())
    [edit] = doc["edits"]
    assert edit["state"] == "applied" and edit["applied"][0]["via"] == "cli" and edit["applied"][0]["who"]

    out_file = ws.parent / "audit.csv"
    assert run(capsys, ["export", run_id, "--format", "csv", "-o", str(out_file), "--workspace", str(ws)])[0] == 0
    rows = list(csv.DictReader(io.StringIO(out_file.read_text())))
    kinds = {r["record"] for r in rows}
    assert {"run", "start", "call", "finding", "dismissal"} <= kinds
    assert any(r["record"] == "call" and "app.py" in r["paths"] for r in rows)

    assert run(capsys, ["export", "no-such-run", "--workspace", str(ws)])[0] == 2


def test_the_schema_rejects_a_record_that_breaks_it(ws, capsys):
    code, out, err = run(capsys, ["run", "audit", "--json"] + scripted(ws))
    run_id = json.loads(out[out.index("{"):])["id"]
    doc = json.loads(run(capsys, ["export", run_id, "--workspace", str(ws)])[1])
    doc["calls"][0]["paths_sent"] = "app.py"
    with pytest.raises(jsonschema.ValidationError):
        record.validate(doc)
    doc = json.loads(run(capsys, ["export", run_id, "--workspace", str(ws)])[1])
    doc["calls"][0]["prompt"] = "contents"
    with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
        record.validate(doc)


def test_docs_describe_every_field_of_the_schema():
    docs = (Path(__file__).resolve().parents[3] / "docs" / "governance.md").read_text()

    def names(node, prefix=""):
        for key, sub in (node.get("properties") or {}).items():
            yield f"{prefix}{key}"
            child = sub.get("items", sub) if isinstance(sub, dict) else {}
            yield from names(child, f"{prefix}{key}.")

    missing = [n for n in names(record.schema()) if f"`{n}`" not in docs]
    assert not missing, f"docs/governance.md does not describe: {missing}"


def test_resume_is_checked_against_todays_policy_and_recorded(ws, policy, capsys, tmp_path):
    fixture = tmp_path / "flaky.py"
    fixture.write_text(textwrap.dedent('''
        import sys
        sys.path.insert(0, %r)
        from answers import answer as planted

        def answer(request):
            if (request.get("label") or "").startswith("refute"):
                raise ValueError("refuter unavailable")
            return planted(request)
    ''' % str(ws / ".refute")))
    argv = ["run", "audit", "--yes", "--json", "--workspace", str(ws), "--provider", "scripted",
            "--scripted-fixture", f"{fixture}:answer"]
    code, out, err = run(capsys, argv)
    info = json.loads(out[out.index("{"):])
    assert info["status"] in ("failed", "completed with failures"), err  # resumable either way
    policy("[workflows]\nallowed = ['ask']\n")
    refused(capsys, ["resume", info["id"], "--workspace", str(ws)], "workflows.allowed")
    policy("")
    code, out, err = run(capsys, ["resume", info["id"], "--workspace", str(ws)])
    assert code in (1, 3) and "refuter unavailable" in err, err  # it ran again, and failed the same way
    doc = json.loads(run(capsys, ["export", info["id"], "--workspace", str(ws)])[1])
    jsonschema.validate(doc, record.schema())
    assert [s["resumed"] for s in doc["starts"]] == [False, True]
    assert doc["failures"] and all("refuter unavailable" in f["error"] for f in doc["failures"] if f["key"])
