"""The admin policy file: where it comes from, what makes it invalid (an error, never an
empty policy), and each rule's check on settings, budgets and edits."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from refute.orchestration.governance import gate
from refute.orchestration.model import PlanEstimate
from refute.orchestration.governance.policy import DEFAULT_PATH, Policy, PolicyError, PolicyRefused, load, parse
from refute.orchestration.settings import EngineSettings

FULL = """
[workflows]
enabled = true
allowed = ["audit", "ask"]
[providers]
allowed = ["anthropic", "scripted"]
endpoints = ["https://gateway.example.com/anthropic"]
regions = ["eu"]
models = ["claude-haiku-4-5"]
[budget]
max_usd_per_run = 5
max_tokens_per_run = 100000
max_usd_per_user_per_day = 20.0
[approval]
threshold_calls = 50
threshold_usd = 1.5
[edits]
allow_apply = false
[data]
never_send = ["customers/**", "*.sql"]
"""


def named(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return {"REFUTE_POLICY": str(path)}


def test_every_key_parses_with_its_type(tmp_path):
    policy = load(named(tmp_path, FULL))
    assert policy.present and len(policy.sha256) == 64 and policy.source.endswith("policy.toml")
    assert policy.workflows_allowed == ("audit", "ask")
    assert policy.budget_max_usd_per_run == 5.0 and isinstance(policy.budget_max_usd_per_run, float)
    assert policy.budget_max_tokens_per_run == 100000
    assert policy.approval_threshold_calls == 50 and policy.edits_allow_apply is False
    assert policy.data_never_send == ("customers/**", "*.sql")


def test_a_named_file_that_is_missing_is_an_error_not_an_empty_policy(tmp_path):
    with pytest.raises(PolicyError, match="does not exist .*REFUTE_POLICY names it"):
        load({"REFUTE_POLICY": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize("text, message", [
    ("[workflows\nenabled = false", "not valid TOML"),
    ("[workflow]\nenabled = false", r"unknown section \[workflow\]"),
    ("[workflows]\nenable = false", "unknown key workflows.enable"),
    ("[workflows]\nenabled = 'no'", "workflows.enabled must be bool"),
    ("[budget]\nmax_usd_per_run = true", "budget.max_usd_per_run must be int or float"),
    ("[budget]\nmax_usd_per_run = -1", "must not be negative"),
    ("[providers]\nmodels = ['a', 3]", "list of non-empty strings"),
    ("workflows = 3", "must be a \\[workflows\\] table"),
])
def test_invalid_policies_are_errors_that_say_what_is_wrong(tmp_path, text, message):
    with pytest.raises(PolicyError, match=message):
        load(named(tmp_path, text))


@pytest.mark.skipif(DEFAULT_PATH.exists(), reason="this machine has a system policy")
def test_no_policy_file_means_every_rule_open():
    policy = load({})
    assert not policy.present and policy.source == "(no policy file)"
    policy.check_workflow("audit")
    policy.check_settings(EngineSettings(), {})
    policy.check_apply()


def refused(rule: str):
    return pytest.raises(PolicyRefused, match=rf"rule {rule.replace('.', '[.]')}:")


def test_workflow_rules():
    with refused("workflows.enabled"):
        parse("[workflows]\nenabled = false", "p").check_workflow("audit")
    policy = parse("[workflows]\nallowed = ['ask']", "p")
    policy.check_workflow("ask")
    with refused("workflows.allowed"):
        policy.check_workflow("audit")


def test_provider_endpoint_region_and_model_rules():
    env = {"ANTHROPIC_BASE_URL": "https://gateway.example.com/anthropic/"}
    ok = EngineSettings(model_default="claude-haiku-4-5", model_finder="claude-haiku-4-5",
                        model_editor="claude-haiku-4-5", inference_geo="eu")
    policy = parse(FULL, "p")
    policy.check_settings(ok, env)
    with refused("providers.endpoints"):
        policy.check_settings(ok, {})  # the public API is not the allowed gateway
    with refused("providers.regions"):
        policy.check_settings(EngineSettings(**{**ok.__dict__, "inference_geo": "us"}), env)
    with refused("providers.regions"):
        policy.check_settings(EngineSettings(**{**ok.__dict__, "inference_geo": None}), env)
    with refused("providers.models"):
        policy.check_settings(EngineSettings(model_default="claude-haiku-4-5", inference_geo="eu"), env)
    with refused("providers.allowed"):
        parse("[providers]\nallowed = ['anthropic']", "p").check_settings(EngineSettings(provider="scripted"), {})
    # A bedrock client's endpoint is the cloud client, its region the AWS region.
    bedrock = EngineSettings(anthropic_client="bedrock", anthropic_region="eu-west-1")
    parse("[providers]\nendpoints = ['bedrock']\nregions = ['eu-west-1']", "p").check_settings(bedrock, {})
    with refused("providers.regions"):
        parse("[providers]\nregions = ['eu-central-1']", "p").check_settings(bedrock, {})


def test_budget_and_edit_rules():
    policy = parse(FULL, "p")
    policy.check_budget(100000, 5.0)
    with refused("budget.max_usd_per_run"):
        policy.check_budget(None, 5.01)
    with refused("budget.max_tokens_per_run"):
        policy.check_budget(100001, None)
    with refused("edits.allow_apply"):
        policy.check_apply()


def test_governed_settings_merge_never_send_models_and_lower_thresholds():
    settings = EngineSettings(model_default="claude-haiku-4-5", model_finder="claude-haiku-4-5",
                              model_editor="claude-haiku-4-5", provider="scripted", never_send=("*.key",),
                              approval_threshold_calls=10, approval_threshold_usd=9.0)
    out = gate.governed_settings(settings, parse(FULL, "p"))
    assert out.never_send == ("*.key", "customers/**", "*.sql")
    assert out.allowed_models == ["claude-haiku-4-5"]
    assert (out.approval_threshold_calls, out.approval_threshold_usd) == (10, 1.5), "lowered, never raised"
    # The worker gets settings as JSON: the globs survive the trip.
    import json
    from dataclasses import asdict

    again = EngineSettings(**json.loads(json.dumps(asdict(out))))
    assert again.never_send == out.never_send


def test_policy_never_send_globs_make_files_skipped_as_secret(tmp_path, monkeypatch, capsys):
    """The admin's extra never-send globs reach the one path rule: `refute plan` lists the
    files as skipped with reason "secret", and the path rule refuses to send them."""
    from refute.analysis.paths import PathRule, Purpose
    from refute.server import cli

    (tmp_path / "customers").mkdir()
    (tmp_path / "customers" / "list.py").write_text("NAMES = ['a', 'b']\n")
    (tmp_path / "dump.sql").write_text("select 1;\n")
    (tmp_path / "app.py").write_text("def f():\n    return 1\n")
    monkeypatch.setenv("REFUTE_POLICY", named(tmp_path, FULL)["REFUTE_POLICY"])
    assert cli.main(["plan", str(tmp_path), "--json", "--no-cache"]) == 0
    out = json.loads(capsys.readouterr().out)
    skipped = {s["path"]: s["reason"] for s in out["skipped_detail"]} if "skipped_detail" in out else {
        s["path"]: s["reason"] for s in out["skipped"]}
    assert skipped.get("customers/list.py") == "secret" and skipped.get("dump.sql") == "secret"
    assert "app.py" not in skipped
    haiku = {f"model_{role}": "claude-haiku-4-5" for role in ("default", "finder", "refuter", "editor")}
    settings = gate.governed_settings(EngineSettings(provider="scripted", **haiku), parse(FULL, "p"))
    rule = PathRule(tmp_path, never_send=settings.never_send)
    assert not rule.admits("customers/list.py", Purpose.SEND) and rule.admits("app.py", Purpose.SEND)


def test_approval_reason_uses_the_lower_of_settings_and_policy(tmp_path, monkeypatch):
    plan = PlanEstimate(workflow="audit", units=1, calls=60, input_tokens=1, max_output_tokens=1, tokens=2,
                        cost_usd=1.0, by_model={}, findings_reported=0, edits_proposed=0, status="completed")
    settings = EngineSettings(approval_threshold_calls=1000, approval_threshold_usd=1000.0)
    assert gate.approval_reason(plan, settings) is None
    monkeypatch.setenv("REFUTE_POLICY", named(tmp_path, FULL)["REFUTE_POLICY"])
    assert gate.approval_reason(plan, settings) == "60 agent calls (threshold 50)"
    assert "up to $2.00 (threshold $1.50)" in gate.approval_reason(replace(plan, calls=1, cost_usd=2.0), settings)
