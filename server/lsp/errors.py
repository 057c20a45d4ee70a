"""How an exception from the engine reaches an LSP client.

One rule for every request and command: the engine's refusals become RequestFailed with
the engine's own words; anything else is an internal error whose traceback goes to the
server log.
"""

from __future__ import annotations

from pygls.exceptions import JsonRpcException


class EngineUnavailable(JsonRpcException):
    CODE = -32002  # ServerNotInitialized: the client may retry once the engine is up
    MESSAGE = "refute engine is not available"


class RequestFailed(JsonRpcException):
    CODE = -32803  # LSP ErrorCodes.RequestFailed: well-formed, but the engine refused
    MESSAGE = "refute request failed"


def domain_errors() -> tuple[type[BaseException], ...]:
    from refute.orchestration.engine import EngineError, RunLocked
    from refute.orchestration.governance.policy import PolicyRefused
    from refute.orchestration.providers.base import ProviderError

    return (KeyError, ValueError, LookupError, PermissionError, FileNotFoundError,
            EngineError, RunLocked, ProviderError, PolicyRefused)


def message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError) and text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    return text or type(exc).__name__
