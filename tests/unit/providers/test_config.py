"""Which client is built from which settings, and clear errors naming what to set."""

from __future__ import annotations

import anthropic
import pytest

from refute.orchestration.model import CallRequest
from refute.orchestration.providers import make_provider
from refute.orchestration.providers.anthropic import AnthropicProvider, build_client
from refute.orchestration.providers.base import NotConfigured
from refute.orchestration.settings import EngineSettings
from tests.fakes.messages_api import text_reply


def test_missing_key_names_what_to_set_and_points_to_plan(workspace):
    with pytest.raises(NotConfigured) as info:
        AnthropicProvider(EngineSettings(), workspace)
    message = str(info.value)
    assert "ANTHROPIC_API_KEY" in message and "ANTHROPIC_AUTH_TOKEN" in message and "refute plan" in message


def test_make_provider_surfaces_not_configured(workspace):
    with pytest.raises(NotConfigured, match="ANTHROPIC_API_KEY"):
        make_provider(EngineSettings(provider="anthropic"), workspace)


def test_make_provider_builds_the_anthropic_provider(api_key, workspace):
    provider = make_provider(EngineSettings(provider="anthropic"), workspace)
    assert isinstance(provider, AnthropicProvider) and provider.name == "anthropic"
    provider.close()


def test_gateway_token_and_base_url_from_the_environment(fake_messages_api, monkeypatch, workspace, ctx):
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "gateway-token-0123456789")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_messages_api.url + "/gateway")
    fake_messages_api.enqueue(text_reply("via gateway"))
    provider = AnthropicProvider(EngineSettings(), workspace)
    result = provider.call(CallRequest(prompt="hi", model="claude-haiku-4-5"), ctx)
    provider.close()
    request = fake_messages_api.requests[0]
    assert result.text == "via gateway"
    assert request.path == "/gateway/v1/messages"
    assert request.headers["authorization"] == "Bearer gateway-token-0123456789"


def test_settings_base_url_wins_over_the_environment(fake_messages_api, api_key, monkeypatch, workspace, ctx):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    fake_messages_api.enqueue(text_reply("ok"))
    provider = AnthropicProvider(EngineSettings(anthropic_base_url=fake_messages_api.url), workspace)
    assert provider.call(CallRequest(prompt="hi", model="claude-haiku-4-5"), ctx).text == "ok"
    provider.close()


def test_bedrock_needs_a_region():
    with pytest.raises(NotConfigured, match="anthropic_region"):
        build_client(EngineSettings(anthropic_client="bedrock"))
    client = build_client(EngineSettings(anthropic_client="bedrock", anthropic_region="eu-west-1"))
    assert isinstance(client, anthropic.AnthropicBedrock)
    assert "bedrock-runtime.eu-west-1" in str(client.base_url) and client.max_retries == 0


def test_vertex_needs_region_and_project(monkeypatch):
    with pytest.raises(NotConfigured, match="ANTHROPIC_VERTEX_PROJECT_ID"):
        build_client(EngineSettings(anthropic_client="vertex", anthropic_region="us-east5"))
    monkeypatch.setenv("ANTHROPIC_VERTEX_PROJECT_ID", "my-project")
    client = build_client(EngineSettings(anthropic_client="vertex", anthropic_region="us-east5"))
    assert isinstance(client, anthropic.AnthropicVertex) and client.max_retries == 0


def test_foundry_through_a_base_url_sends_its_key_header(fake_messages_api, monkeypatch, workspace, ctx):
    with pytest.raises(NotConfigured, match="ANTHROPIC_FOUNDRY_RESOURCE"):
        build_client(EngineSettings(anthropic_client="foundry"))
    monkeypatch.setenv("ANTHROPIC_FOUNDRY_API_KEY", "foundry-key-0123456789")
    fake_messages_api.enqueue(text_reply("from foundry"))
    settings = EngineSettings(anthropic_client="foundry", anthropic_base_url=fake_messages_api.url + "/anthropic")
    provider = AnthropicProvider(settings, workspace)
    assert isinstance(provider.client(), anthropic.AnthropicFoundry)
    assert provider.call(CallRequest(prompt="hi", model="claude-haiku-4-5"), ctx).text == "from foundry"
    provider.close()
    assert fake_messages_api.requests[0].headers["x-api-key"] == "foundry-key-0123456789"


def test_unknown_client_kind_is_named():
    with pytest.raises(NotConfigured, match="unknown anthropic_client 'azure'"):
        build_client(EngineSettings(anthropic_client="azure"))
