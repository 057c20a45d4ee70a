"""The approval gate: a run whose plan exceeds a threshold waits for a person's yes.

`refute.run` plans first (no model call); when the plan's calls or worst-case dollars
exceed `approval_threshold_calls` / `approval_threshold_usd` (or the admin policy's
lower [approval] thresholds: a user setting never raises them), the server asks with
`window/showMessageRequest` ("Run", "Plan only", "Cancel") before any call is made.
No answer (the message was dismissed, or the client cannot ask) means no run.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from lsprotocol import types

from refute.orchestration.governance.gate import approval_reason
from refute.orchestration.settings import EngineSettings

from .session import Session

RUN = "Run"
PLAN_ONLY = "Plan only"
CANCEL = "Cancel"
ANSWER_TIMEOUT_S = 600.0  # a person may take a while; an unanswered prompt declines


def plan_dict(plan: Any) -> dict[str, Any]:
    """A PlanEstimate (dataclass or dict) as a JSON-ready dict."""
    if plan is None:
        return {}
    if hasattr(plan, "to_dict"):
        return plan.to_dict()
    if dataclasses.is_dataclass(plan):
        return dataclasses.asdict(plan)
    if isinstance(plan, dict):
        return plan
    raise TypeError(f"unexpected plan type {type(plan).__name__}")


def planned_calls(plan: dict[str, Any]) -> int | None:
    # With verification counted (plan's forecast), the expected calls are what a run will make.
    expected = ((plan.get("forecast") or {}).get("cases") or {}).get("expected") or {}
    if isinstance(expected.get("calls"), int) and expected.get("finder_calls"):
        return max(int(expected["calls"]), int(plan.get("calls") or 0))
    for key in ("calls", "agent_calls", "max_calls", "estimated_calls"):
        value = plan.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return int(value)
    return None


def planned_usd(plan: dict[str, Any]) -> float | None:
    for key in ("usd", "cost_usd", "max_usd", "estimated_usd", "worst_case_usd"):
        value = plan.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def over_threshold(plan: dict[str, Any], settings: EngineSettings) -> str | None:
    """Why the plan needs approval, or None: the one rule `refute run` asks too
    (governance/gate.py), with the thresholds lowered to the admin policy's."""
    return approval_reason(plan, settings)


async def ask(session: Session, workflow: str, plan: dict[str, Any], reason: str) -> str:
    """RUN, PLAN_ONLY or CANCEL."""
    tokens = plan.get("tokens") or plan.get("estimated_tokens")
    detail = f"; about {tokens:,} tokens" if isinstance(tokens, int) else ""
    message = f"refute: the '{workflow}' run would make {reason}{detail}. Start it?"
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
