"""`refute doctor` and the `refute.doctor` LSP command against the loopback chat-completions
fake: each check passes or fails with what to fix; the one-token call only with --call."""

from __future__ import annotations

import json

import pytest

from refute.orchestration.providers.doctor import diagnose, healthy
from refute.orchestration.settings import EngineSettings
from refute.server.cli import main
from tests.fakes.chat_completions_api import TEST_OPENAI_KEY, FakeChatCompletionsAPI, error, json_answer


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL") + tuple(f"REFUTE_{n}" for n in (
            "PROVIDER", "OPENAI_BASE_URL", "OPENAI_MODEL")):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fake():
    with FakeChatCompletionsAPI(models=("llama3.1:8b", "qwen2.5-coder:7b")) as api:
        yield api


def _by_name(checks):
    return {c.name: c for c in checks}


def test_a_healthy_endpoint_passes_without_spending_a_token(fake, workspace):
    checks = diagnose(EngineSettings(provider="openai", openai_base_url=fake.base_url,
                                     openai_model="qwen2.5-coder:7b"), workspace)
    found = _by_name(checks)
    assert healthy(checks)
    assert [found[n].status for n in ("configured", "reachable", "authenticated", "model known")] == ["ok"] * 4
    assert found["structured output"].status == "skip" and "--call" in found["structured output"].fix
    assert fake.chat_bodies() == []  # no call without consent


def test_call_makes_one_one_token_structured_call(fake, workspace):
    fake.enqueue(json_answer({"ok": True}))
    checks = diagnose(EngineSettings(provider="openai", openai_base_url=fake.base_url,
                                     openai_model="llama3.1:8b"), workspace, call=True)
    assert _by_name(checks)["structured output"].status == "ok"
    (body,) = fake.chat_bodies()
    assert body["max_tokens"] == 1 and body["response_format"]["type"] == "json_schema"


def test_structured_output_rejected_is_a_failure_that_says_what_to_use(fake, workspace):
    fake.enqueue(error(400, "response_format json_schema is not supported by this model"))
    checks = diagnose(EngineSettings(provider="openai", openai_base_url=fake.base_url,
                                     openai_model="llama3.1:8b"), workspace, call=True)
    check = _by_name(checks)["structured output"]
    assert check.status == "fail" and "JSON-schema" in check.fix and not healthy(checks)


def test_unknown_model_lists_the_ones_the_server_has(fake, workspace):
    checks = diagnose(EngineSettings(provider="openai", openai_base_url=fake.base_url,
                                     openai_model="gpt-7"), workspace)
    check = _by_name(checks)["model known"]
    assert check.status == "fail" and "llama3.1:8b" in check.detail and "openai_model" in check.fix


def test_unreachable_and_unconfigured(workspace):
    checks = diagnose(EngineSettings(provider="openai", openai_base_url="http://127.0.0.1:9/v1",
                                     openai_model="m"), workspace)
    assert _by_name(checks)["reachable"].status == "fail"
    checks = diagnose(EngineSettings(provider="openai", openai_model="m"), workspace)
    assert _by_name(checks)["configured"].status == "fail" and "OPENAI_API_KEY" in _by_name(checks)["configured"].detail


def test_wrong_key_is_an_authentication_failure(workspace, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-wrongwrongwrongwrongwrong")
    with FakeChatCompletionsAPI(api_key=TEST_OPENAI_KEY) as fake:
        checks = diagnose(EngineSettings(provider="openai", openai_base_url=fake.base_url, openai_model="m"),
                          workspace)
    check = _by_name(checks)["authenticated"]
    assert check.status == "fail" and "OPENAI_API_KEY" in check.fix
    assert "wrongwrong" not in json.dumps([c.to_dict() for c in checks])  # the key is never shown


def test_a_server_without_a_model_list_is_a_warning_not_a_failure(fake, workspace):
    checks = diagnose(EngineSettings(provider="openai", openai_base_url=fake.base_url.replace("/v1", "/nolist"),
                                     openai_model="m"), workspace)
    assert _by_name(checks)["reachable"].status == "ok" and _by_name(checks)["model list"].status == "warn"
    assert healthy(checks)


def test_cli_exit_codes_and_json(fake, workspace, capsys):
    code = main(["doctor", "--workspace", str(workspace), "--provider", "openai", "--base-url", fake.base_url,
                 "--model", "qwen2.5-coder:7b", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["ok"] and out["provider"] == "openai"
    code = main(["doctor", "--workspace", str(workspace), "--base-url", fake.base_url, "--model", "nope"])
    text = capsys.readouterr().out
    assert code == 1 and "[FAIL] model known" in text and "fix:" in text


def test_run_without_a_model_exits_2_naming_the_option(fake, workspace, capsys):
    code = main(["run", "audit", "--workspace", str(workspace), "--provider", "openai", "--base-url", fake.base_url])
    assert code == 2 and "--model" in capsys.readouterr().err


def test_local_without_consent_does_not_load_the_model(workspace):
    checks = diagnose(EngineSettings(provider="local"), workspace)
    statuses = _by_name(checks)
    if statuses["configured"].status == "fail":  # not installed here: the fix says how
        assert "setup.sh" in statuses["configured"].fix
    else:
        assert statuses["reachable"].status == "skip" and "--call" in statuses["reachable"].fix


def test_the_editor_can_ask_for_the_same_checks():
    from refute.server.lsp.server import create_server

    assert "refute.doctor" in create_server().protocol.fm.commands
