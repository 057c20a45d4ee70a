"""How an exception reaches an LSP client: one rule for every request and command.

- `InvalidInput` (orchestration/errors.py): InvalidParams with the engine's words;
- any other `RefusedError` (not allowed, not found): RequestFailed with the engine's words;
- a JSON-RPC error the server raised on purpose (bad params, engine unavailable): as is;
- anything else is a bug in refute, never a polite refusal: an InternalError saying
  "internal error: ... (see the refute log)", its traceback in the server log and in
  `window/logMessage`.
"""

from __future__ import annotations

import logging
import traceback
from typing import Callable

from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams

from refute.orchestration.errors import InvalidInput, RefusedError

log = logging.getLogger(__name__)


class EngineUnavailable(JsonRpcException):
    CODE = -32002  # ServerNotInitialized: the client may retry once the engine is up
    MESSAGE = "refute engine is not available"


class RequestFailed(JsonRpcException):
    CODE = -32803  # LSP ErrorCodes.RequestFailed: well-formed, but the engine refused
    MESSAGE = "refute request failed"


def message(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, KeyError) and text.startswith("'") and text.endswith("'"):
        text = text[1:-1]
    return text or type(exc).__name__


def to_lsp_error(what: str, exc: BaseException, log_to_client: Callable[[str], None]) -> JsonRpcException:
    """The JSON-RPC error for `exc`, raised while doing `what` (a command or engine method)."""
    if isinstance(exc, JsonRpcException):
        return exc
    if isinstance(exc, InvalidInput):
        return JsonRpcInvalidParams(message=f"refute: {what}: {message(exc)}")
    if isinstance(exc, RefusedError):
        return RequestFailed(f"refute: {what}: {message(exc)}")
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    log.error("%s failed:\n%s", what, trace)
    log_to_client(f"refute: {what} failed with an internal error:\n{trace}")
    return JsonRpcInternalError(message=f"refute: {what}: internal error: {type(exc).__name__}: {message(exc)} "
                                        "(see the refute log)")
