"""Secret-looking files are never read for a model; secret-looking text is redacted;
the configured API key is scrubbed from anything that may be logged."""

from __future__ import annotations

import secrets as pysecrets

import pytest

from refute.orchestration.calls.redaction import is_secret_path, looks_high_entropy, redact, register_secret, scrub


@pytest.mark.parametrize("path", [
    ".env", ".env.local", "config/.env.production", "deploy/prod.env", "certs/server.pem", "tls/server.key",
    "id_rsa", "home/.ssh/config", "id_ed25519.pub", "credentials", "credentials.json", ".aws/credentials",
    "store.p12", ".npmrc", ".pypirc", "secrets.yaml", "secret.json", ".netrc", "keys/deploy_rsa",
    "service-account-prod.json", "terraform.tfvars", "C:\\Users\\me\\.env",
])
def test_secret_looking_paths_are_refused(path: str) -> None:
    assert is_secret_path(path), path


@pytest.mark.parametrize("path", [
    "src/app.py", "README.md", "environment.py", "docs/keys.md", "src/secrets_manager.py", "tokens.py",
    "src/credential_store.go", "key_test.rs", "monkey.py", "envelope.txt",
])
def test_ordinary_source_paths_are_allowed(path: str) -> None:
    assert not is_secret_path(path), path


def test_known_key_formats_are_redacted_by_kind() -> None:
    text = "\n".join([
        'ANTHROPIC = "sk-ant-api03-abcdefghijklmnopqrstu"',
        "aws_id = AKIAIOSFODNN7EXAMPLE",
        "gh = ghp_0123456789abcdefghijABCDEFGHIJ012345",
        "slack = xoxb-1234567890-abcdefghij",
        "jwt = eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\nabc\n-----END RSA PRIVATE KEY-----",
        "db = postgres://admin:pa55word@db.internal/app",
    ])
    out, count = redact(text)
    for secret in ("sk-ant-api03", "AKIAIOSFODNN7EXAMPLE", "ghp_0123", "xoxb-123", "eyJhbGci", "MIIEowIBAAKCAQEAx",
                   "pa55word"):
        assert secret not in out, secret
    for kind in ("anthropic_key", "aws_access_key", "github_token", "slack_token", "jwt", "private_key",
                 "url_password"):
        assert f"[REDACTED:{kind}]" in out, kind
    assert count == 7
    assert "db.internal" in out  # only the credential goes, not the surrounding code


def test_literal_passwords_are_redacted_but_code_is_kept() -> None:
    code = (
        'password = "hunter2hunter2"\n'
        "DB_PASSWORD=s3cr3tvalue\n"
        "pw = get_password(user)\n"
        'token = os.environ["TOKEN"]\n'
        'api_key: "${API_KEY}"\n'
    )
    out, count = redact(code)
    assert "hunter2hunter2" not in out and "s3cr3tvalue" not in out
    assert 'password = "[REDACTED:password]"' in out
    assert "pw = get_password(user)" in out
    assert 'os.environ["TOKEN"]' in out
    assert "${API_KEY}" in out  # a placeholder, not a secret
    assert count == 2


def test_high_entropy_tokens_are_redacted_identifiers_are_not() -> None:
    key = pysecrets.token_urlsafe(40)
    hex_key = pysecrets.token_hex(32)
    text = f"KEY_A {key}\nhex {hex_key}\ndef test_parse_config_with_unicode_2(): pass\nmodel claude-sonnet-4-5-20250929"
    out, count = redact(text)
    assert key not in out and hex_key not in out
    assert out.count("[REDACTED:high_entropy]") == 2 and count == 2
    assert "test_parse_config_with_unicode_2" in out and "claude-sonnet-4-5-20250929" in out


@pytest.mark.parametrize("token", [
    "MessageBatchIndividualResponse2", "ERROR_CLASSES_429_spend_limit", "x86_64-unknown-linux-gnu2024",
    "123e4567-e89b-12d3-a456-426614174000", "src/refute/orchestration/providers/v2",
])
def test_identifiers_uuids_and_paths_are_not_high_entropy(token: str) -> None:
    assert not looks_high_entropy(token)


def test_random_keys_are_high_entropy() -> None:
    caught = sum(looks_high_entropy(pysecrets.token_urlsafe(32)) for _ in range(200))
    assert caught >= 190  # measured ~99% at 43 characters


def test_scrub_removes_the_configured_key_and_registered_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "key-from-env-123456")
    register_secret("gateway-token-abcdef")
    message = "401 for key-from-env-123456 via gateway-token-abcdef"
    assert scrub(message) == "401 for [REDACTED:api_key] via [REDACTED:api_key]"
    assert scrub("") == ""


def test_empty_text_is_left_alone() -> None:
    assert redact("") == ("", 0)
