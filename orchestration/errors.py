"""Errors a workflow script can see (and catch), and the one it should not.

`AgentError` and its subclasses are in the script's namespace, so a script can write
`except AgentError:` or pass `default=` to `agent()`. `RunInterrupted` derives from
BaseException so that `except Exception:` in a script does not swallow a pause or cancel.
"""

from __future__ import annotations


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
