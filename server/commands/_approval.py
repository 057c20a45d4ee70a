"""The CLI's approval step before `refute run` starts a run: the same thresholds as the
language server's gate (governance/gate.py `approval_reason`: settings lowered to the
admin policy's), asked on a terminal; `--yes` approves in CI; without a terminal a run
above a threshold is refused (exit 2) rather than started unseen.

It plans first (a dry run in a worker, no model called) so the person sees calls, tokens
and worst-case dollars before anything is paid. With `--yes` nothing is planned.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from refute.orchestration.model import JSONObject, PlanEstimate, Scope

if TYPE_CHECKING:
    from refute.orchestration.engine import Engine

from refute.orchestration.errors import RefusedError


def estimate_line(plan: PlanEstimate) -> str:
    return (f"plan of '{plan.workflow}' (an estimate; no model was called): {plan.units} units, "
            f"{plan.calls} agent calls, up to {plan.tokens:,} tokens, worst case ${plan.cost_usd:.2f}")


def approve(engine: "Engine", workflow: str, scope: Scope | None, args: JSONObject, *, yes: bool,
            stdin: TextIO | None = None, out: TextIO | None = None) -> str | None:
    """None when the run may start; otherwise why it may not (the caller exits 2)."""
    from refute.orchestration.governance.gate import approval_reason

    if yes:
        return None
    stdin = stdin or sys.stdin
    out = out or sys.stderr
    try:
        plan = engine.plan(workflow, scope, args)
    except RefusedError as exc:  # policy refusal, bad script, a dry run that never ends
        return f"{exc} (the run needs its plan to check the approval threshold; --yes starts it without one)"
    reason = approval_reason(plan, engine.settings)
    if reason is None:
        return None
    print(estimate_line(plan), file=out)
    print(f"this run needs approval: {reason}", file=out)
    if not stdin.isatty():
        return (f"the '{workflow}' run needs approval ({reason}) and there is no terminal to ask on; "
                "pass --yes to approve it (CI), or lower its scope or budget")
    print("Start it? [y/N] ", end="", file=out, flush=True)
    answer = stdin.readline().strip().lower()
    if answer in ("y", "yes"):
        return None
    return "not approved; nothing was started (see `refute plan PATH --workflow NAME` for the estimate)"
