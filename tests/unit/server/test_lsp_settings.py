"""Settings from initialization options / workspace/configuration."""

from refute.orchestration.settings import EngineSettings
from refute.server.lsp.settings import describe_defaults, merge_settings


def test_camel_case_and_nested_keys_apply():
    s, warnings = merge_settings(
        EngineSettings(),
        {"provider": "scripted", "maxConcurrency": 4, "models": {"finder": "m-f"}, "approvalThresholdUsd": 1.5},
        "initializationOptions",
    )
    assert warnings == []
    assert (s.provider, s.max_concurrency, s.model_finder, s.approval_threshold_usd) == ("scripted", 4, "m-f", 1.5)


def test_refute_section_wrapper_is_accepted():
    s, _ = merge_settings(EngineSettings(), {"refute": {"provider": "scripted"}}, "x")
    assert s.provider == "scripted"


def test_unknown_keys_warn_and_keep_the_rest():
    s, warnings = merge_settings(EngineSettings(), {"colour": "red", "provider": "scripted"}, "workspace/configuration")
    assert s.provider == "scripted"
    assert warnings == ["workspace/configuration: unknown setting refute.colour (ignored)"]


def test_wrong_types_warn_instead_of_crashing():
    s, warnings = merge_settings(EngineSettings(), {"maxConcurrency": "lots", "budgetUsd": True, "excludes": ["a/"]}, "x")
    assert s.max_concurrency == EngineSettings().max_concurrency
    assert s.budget_usd is None and s.excludes == ["a/"]
    assert len(warnings) == 2 and "maxConcurrency" in warnings[0] and "budgetUsd" in warnings[1]


def test_concurrency_above_the_engine_ceiling_is_named_and_the_ceiling_kept():
    # Issue 10: out-of-range values are reported by name, never silently reinterpreted.
    s, warnings = merge_settings(EngineSettings(), {"maxConcurrency": 99}, "x")
    assert s.max_concurrency == 16 and len(warnings) == 1
    assert "maxConcurrency" in warnings[0] and "at most 16" in warnings[0]
    s, warnings = merge_settings(EngineSettings(), {"maxConcurrency": 0, "budgetUsd": float("nan")}, "x")
    assert s.max_concurrency == 16 and s.budget_usd is None
    assert any("maxConcurrency" in w for w in warnings) and any("budgetUsd" in w and "finite" in w for w in warnings)


def test_non_object_settings_are_reported():
    s, warnings = merge_settings(EngineSettings(), ["provider"], "initializationOptions")
    assert s == EngineSettings() and "expected an object" in warnings[0]


def test_defaults_table_uses_camel_case():
    rows = {camel: default for camel, _, default in describe_defaults()}
    assert rows["approvalThresholdCalls"] == 200 and rows["provider"] == "anthropic"


def test_a_bad_nested_key_keeps_its_siblings():
    s, warnings = merge_settings(EngineSettings(), {"models": {"finder": "m-f", "bogus": "x"}}, "x")
    assert s.model_finder == "m-f"
    assert warnings == ["x: unknown setting refute.models_bogus (ignored)"]
