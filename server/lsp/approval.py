"""The approval gate: a run whose plan exceeds a threshold waits for a person's yes.

`refute.run` plans first (no model call); when the plan's calls or worst-case dollars
exceed `approval_threshold_calls` / `approval_threshold_usd` (or the admin policy's
lower [approval] thresholds: a user setting never raises them), the server asks with
`window/showMessageRequest` ("Run", "Plan only", "Cancel") before any call is made.
No answer (the message was dismissed, or the client cannot ask) means no run.
"""

from __future__ import annotations

import asyncio

from lsprotocol import types

from refute.orchestration.governance.gate import approval_reason
from refute.orchestration.model import PlanEstimate
from refute.orchestration.settings import EngineSettings

from .session import Session

RUN = "Run"
PLAN_ONLY = "Plan only"
CANCEL = "Cancel"
ANSWER_TIMEOUT_S = 600.0  # a person may take a while; an unanswered prompt declines


def over_threshold(plan: PlanEstimate, settings: EngineSettings) -> str | None:
    """Why the plan needs approval, or None: the one rule `refute run` asks too
    (governance/gate.py), with the thresholds lowered to the admin policy's."""
    return approval_reason(plan, settings)


def approval_message(workflow: str, plan: PlanEstimate, reason: str) -> str:
    """What the person is asked: the reason (calls, dollars) and the plan's tokens."""
    return f"refute: the '{workflow}' run would make {reason}; about {plan.tokens:,} tokens. Start it?"


async def ask(session: Session, workflow: str, plan: PlanEstimate, reason: str) -> str:
    """RUN, PLAN_ONLY or CANCEL."""
    message = approval_message(workflow, plan, reason)
    try:
        answer = await asyncio.wait_for(
            session.client.window_show_message_request_async(
                types.ShowMessageRequestParams(
                    type=types.MessageType.Warning,
                    message=message,
                    actions=[types.MessageActionItem(RUN), types.MessageActionItem(PLAN_ONLY), types.MessageActionItem(CANCEL)],
                )
            ),
            timeout=ANSWER_TIMEOUT_S,
        )
    except Exception as exc:
        session.log_warning(f"refute: could not ask for approval ({exc}); the run was not started")
        return CANCEL
    title = getattr(answer, "title", None)
    return title if title in (RUN, PLAN_ONLY) else CANCEL


ALLOW_CHECK = "Allow the check"


async def ask_check(session: Session, workflow: str, command: str, timeout_s: float) -> bool:
    """Before a run that would run the project's own check command (workspace code, on a
    temporary git worktree): ask. Anything but an explicit yes means no run."""
    message = (f"refute: the '{workflow}' run will run `{command}` (time limit {timeout_s:g} s) on a temporary "
               "git worktree holding each proposed edit. This runs this workspace's code. Allow it?")
    try:
        answer = await asyncio.wait_for(
            session.client.window_show_message_request_async(
                types.ShowMessageRequestParams(
                    type=types.MessageType.Warning, message=message,
                    actions=[types.MessageActionItem(ALLOW_CHECK), types.MessageActionItem(CANCEL)],
                )
            ),
            timeout=ANSWER_TIMEOUT_S,
        )
    except Exception as exc:
        session.log_warning(f"refute: could not ask before running the check ({exc}); the run was not started")
        return False
    return getattr(answer, "title", None) == ALLOW_CHECK
