"""The engine's error hierarchy: refusals, and the errors a workflow script can see.

`RefusedError` is the one base for "the engine said no to this request": bad input
(`InvalidInput`), not allowed (`NotAllowed`: policy, a locked run, a spent cap), not
found (`NotFound`: an unknown run, workflow or finding). Its message says why and what to
do. The language server maps it to an LSP error the person sees (InvalidParams or
RequestFailed) and the CLI to exit 2; any other exception is a bug in refute, reported
as an internal error with its traceback logged (server/lsp/errors.py, server/cli.py).
Subclasses keep the built-in base they had (ValueError, LookupError, KeyError), so
existing `except ValueError:` still catches them. Not to be confused with
`providers.base.Refused`, a model that refused to answer.

analysis/ cannot import this module: its refusals (`PathRefused`, `ChangesError`) are
wrapped where the engine meets them (verification/edits.py, verification/findings.py).

`AgentError` and its subclasses are in the script's namespace, so a script can write
`except AgentError:` or pass `default=` to `agent()`. `RunInterrupted` derives from
BaseException so that `except Exception:` in a script does not swallow a pause or cancel.
"""

from __future__ import annotations


class RefusedError(Exception):
    """The engine refused a request; the message says why and what to do."""


class InvalidInput(RefusedError, ValueError):
    """The request's input is wrong: a bad argument, scope, setting, path or format."""


class NotAllowed(RefusedError):
    """Well-formed, but not allowed now: the admin policy, a run another process drives,
    a run in the wrong state, a spent cap, a provider that is not configured."""


class NotFound(RefusedError, LookupError):
    """No run, workflow, finding or edit by that name."""


class AgentError(Exception):
    """An agent call failed (after retries, where retrying made sense)."""

    def __init__(self, message: str, *, key: str = "", label: str | None = None, kind: str = "error"):
        super().__init__(message)
        self.key = key
        self.label = label
        self.kind = kind


class BudgetExceeded(AgentError):
    """The call's worst case does not fit in what is left of the run's hard budget."""


class CallLimitExceeded(AgentError):
    """The run already made the maximum number of agent calls."""


class RunInterrupted(BaseException):
    """The run is being paused or cancelled: unwind the script."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
