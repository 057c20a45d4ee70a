"""Keep secrets away from models, logs, the journal and reports (ARCHITECTURE invariant 7).

Three tools (which FILES are secret is decided by refute.analysis.paths, the one path
rule; `is_secret_path` here is that function):
- `redact(text) -> (text, count)`: known key formats, private-key blocks, JWTs, literal
  password assignments and high-entropy tokens become "[REDACTED:kind]" before any
  prompt, context, system prompt or tool result leaves the machine.
- `scrub(text)`: removes the configured credential values themselves (the API key and
  friends from the environment, plus any value passed to `register_secret`), for error
  messages and anything else that may be logged or journalled.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import Counter

from refute.analysis import paths as _paths

# --- secret-looking files --------------------------------------------------------------

# The list and the rule live in the one path rule, refute.analysis.paths; this name stays
# for the callers that only ask about a name.
is_secret_path = _paths.is_secret_path


# --- redaction of secret-looking text ---------------------------------------------------

# (kind, pattern); order matters: whole blocks and specific formats before generic ones.
_KNOWN_FORMATS: list[tuple[str, re.Pattern[str]]] = [
    ("private_key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        re.S)),
    ("anthropic_key", re.compile(r"\bsk-ant-[A-Za-z0-9_\-]{8,}")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})")),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}")),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{10,}")),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}")),
    ("stripe_key", re.compile(r"\b[rs]k_(?:live|test)_[0-9A-Za-z]{16,}")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
    ("url_password", re.compile(r"(?<=://)[^/\s:@]{1,64}:[^/\s@]{3,}(?=@)")),
]

# name = "literal" / name: 'literal' / NAME=literal (env and ini files). Only the value is
# replaced so the model still sees that a credential is assigned there.
_SECRET_NAME = r"[A-Za-z0-9_.\-]*(?:passw(?:or)?d|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|client[_\-]?secret|auth)[A-Za-z0-9_.\-]*"
_QUOTED_ASSIGNMENT = re.compile(
    r"(?P<name>\b" + _SECRET_NAME + r"[\"']?\s*(?::|=|:=|=>)\s*)(?P<q>[\"'`])(?P<value>[^\"'`\n]{4,})(?P=q)", re.I)
_BARE_ASSIGNMENT = re.compile(
    r"(?m)^(?P<name>\s*(?:export\s+)?" + _SECRET_NAME + r"\s*[=:]\s*)(?P<value>[^\s\"'`#;,(){}\[\]]{4,})\s*$", re.I)
# Values that are obviously not secrets: placeholders, references, empty-ish markers.
_PLACEHOLDER = re.compile(
    r"^(?:\$\{?.*\}?|<.*>|\{\{.*\}\}|%\(.*\)s|x{3,}|\*{3,}|\.{3,}|changeme|placeholder|example|dummy|"
    r"none|null|true|false|your[_\-].*|\[redacted.*)$", re.I)

# Generic high-entropy token: long, mixes letters and digits, and is far more random than
# identifiers or prose. Thresholds checked on random keys vs. long code identifiers.
_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{20,}={0,2}(?![A-Za-z0-9+/_\-])")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def shannon_entropy(s: str) -> float:
    counts = Counter(s)
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")


def looks_high_entropy(token: str) -> bool:
    """A random-looking key rather than an identifier, path, version or hash-named file.

    Tuned side by side on random base62/base64 tokens (caught: ~85% at 20 chars, ~98% at
    32, all at 64) against long code identifiers, model names and target triples (kept).
    """
    if _UUID.match(token) or token.startswith("[REDACTED"):
        return False
    if sum(c.isdigit() for c in token) < 2 or not any(c.isalpha() for c in token):
        return False
    if "/" in token and token.count("/") >= 2 and not token.endswith("="):
        return False  # a path, not a key
    entropy = shannon_entropy(token)
    if _HEX.match(token):
        return len(token) >= 32 and entropy >= 3.3
    segments = [s for s in re.split(r"[-_.]", token) if s]
    if all(s.isalpha() or s.isdigit() for s in segments):
        return False  # snake_case / kebab-case words and numbers: claude-sonnet-4-5-20250929
    words = _WORD.findall(token)
    if len("".join(words)) / max(1, len(words)) >= 3.2:
        return False  # camelCase words: random text breaks into 1-2 character fragments
    return entropy >= max(3.5, 0.75 * math.log2(min(len(token), 64)))


def redact(text: str) -> tuple[str, int]:
    """Replace secret-looking substrings with "[REDACTED:kind]"; returns (text, count)."""
    if not text:
        return text, 0
    count = 0

    def sub_whole(kind: str):
        def repl(_m: re.Match[str]) -> str:
            nonlocal count
            count += 1
            return f"[REDACTED:{kind}]"
        return repl

    for kind, pattern in _KNOWN_FORMATS:
        text = pattern.sub(sub_whole(kind), text)

    def sub_value(m: re.Match[str]) -> str:
        nonlocal count
        value = m.group("value")
        if _PLACEHOLDER.match(value.strip()):
            return m.group(0)
        count += 1
        quote = m.groupdict().get("q") or ""
        return f"{m.group('name')}{quote}[REDACTED:password]{quote}"

    text = _QUOTED_ASSIGNMENT.sub(sub_value, text)
    text = _BARE_ASSIGNMENT.sub(sub_value, text)

    def sub_token(m: re.Match[str]) -> str:
        nonlocal count
        if not looks_high_entropy(m.group(0)):
            return m.group(0)
        count += 1
        return "[REDACTED:high_entropy]"

    text = _TOKEN.sub(sub_token, text)
    return text, count


# --- the configured credentials themselves ----------------------------------------------

# Environment variables whose values are credentials for the providers we talk to.
CREDENTIAL_ENV_VARS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_FOUNDRY_API_KEY",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)
_registered: set[str] = set()
_registered_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a credential value so `scrub` removes it wherever it shows up."""
    if value and len(value) >= 6:  # shorter values would scrub ordinary words
        with _registered_lock:
            _registered.add(value)


def scrub(text: str) -> str:
    """Remove every configured credential value (environment and registered) from `text`."""
    if not text:
        return text
    with _registered_lock:
        values = set(_registered)
    for name in CREDENTIAL_ENV_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 6:
            values.add(value)
    for value in sorted(values, key=len, reverse=True):
        if value in text:
            text = text.replace(value, "[REDACTED:api_key]")
    return text
