"""Engine settings: flat keys, camelCase and nested forms, type checks, the hard ceilings."""

from refute.orchestration.settings import MAX_CONCURRENCY, EngineSettings


def test_camel_case_and_nested_model_keys_map_to_fields():
    s, unknown = EngineSettings().updated({"maxConcurrency": 4, "models": {"refuter": "claude-opus-4-5"}})
    assert (s.max_concurrency, s.model_refuter, unknown) == (4, "claude-opus-4-5", [])


def test_merged_reports_bad_values_by_name_and_keeps_the_good_ones():
    s, problems = EngineSettings().merged({"budgetUsd": 2.5, "maxConcurrency": "lots", "colour": "red",
                                           "batch": 1})
    assert s.budget_usd == 2.5 and s.max_concurrency == MAX_CONCURRENCY and s.batch is False
    assert problems == [
        "maxConcurrency: expected int, got str 'lots'",
        "unknown setting colour",
        "batch: expected bool, got int 1",
    ]


def test_a_setting_may_lower_concurrency_but_never_raise_it_past_the_ceiling():
    assert EngineSettings(max_concurrency=64).max_concurrency == MAX_CONCURRENCY
    assert EngineSettings(max_calls=5000).max_calls == 1000


def test_environment_variables_are_typed():
    s = EngineSettings.from_env({"REFUTE_BUDGET_TOKENS": "5000", "REFUTE_BATCH": "true",
                                 "REFUTE_EXCLUDES": "gen/,*.lock"})
    assert (s.budget_tokens, s.batch, s.excludes) == (5000, True, ["gen/", "*.lock"])
