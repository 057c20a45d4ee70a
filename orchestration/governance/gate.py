"""Where the engine asks the governance rules: admitting a plan or a run, approval
thresholds, and settling a finished run's spend in the ledger.

The Engine calls exactly these functions (one call per entry point), so the CLI and the
language server enforce the same policy:
- `governed_settings(settings, policy)`: refuses a provider, endpoint, region or model
  the policy does not allow; merges the policy's never-send globs into
  `settings.never_send` (the one path rule, analysis/paths.py, honours them), the model
  allow-list into `settings.allowed_models` (checked again at every agent() call, since a
  script may name a model), and lowers the approval thresholds to the policy's.
- `admit_run(...)`: the workflow rule, the per-run budget maximum (a run without a budget
  gets the maximum as its budget), the per-user daily cap (the run's dollar budget is
  lowered to what is left today and reserved in the ledger), and an admission record in
  the run's folder (who, from where, policy source and hash, endpoint, regions) for the
  audit record.
- `approval_reason(plan, settings)`: why a plan needs a person's yes, or None. The CLI's
  prompt and the language server's approval gate both ask it.
- `settle_run(info, workspace)`: the run's spend into the ledger, reservation released.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from refute.orchestration.governance import ledger as ledger_mod
from refute.orchestration.governance.policy import Policy, PolicyRefused, endpoint_of, load, regions_of
from refute.orchestration.model import Budget, PlanEstimate

ADMISSIONS = "admissions.jsonl"  # in the run's folder: one line per start or resume


def governed_settings(settings: Any, policy: Policy) -> Any:
    policy.check_settings(settings)
    changes: dict[str, Any] = {}
    if policy.data_never_send:
        merged = tuple(dict.fromkeys([*settings.never_send, *policy.data_never_send]))
        changes["never_send"] = merged
    if policy.providers_models is not None:
        changes["allowed_models"] = list(policy.providers_models)
    if policy.approval_threshold_calls is not None:
        changes["approval_threshold_calls"] = min(settings.approval_threshold_calls, policy.approval_threshold_calls)
    if policy.approval_threshold_usd is not None:
        changes["approval_threshold_usd"] = min(settings.approval_threshold_usd, policy.approval_threshold_usd)
    return replace(settings, **changes) if changes else settings


def ledger_for(policy: Policy) -> ledger_mod.SpendLedger:
    return ledger_mod.SpendLedger(ledger_mod.default_dir(policy.budget_ledger_dir))


def admit_run(policy: Policy, *, workflow: str, settings: Any, budget: Budget, run_id: str, workspace: Path,
              started_by: str, already_spent_usd: float = 0.0, resumed: bool = False) -> tuple[Budget, dict[str, Any]]:
    """The budget the run may use (reserved in the ledger) and the admission record to
    keep with the run (`record_admission`); PolicyRefused names the rule that refuses it."""
    policy.check_workflow(workflow)
    tokens, usd = budget.tokens, budget.usd
    if usd is None and policy.budget_max_usd_per_run is not None:
        usd = policy.budget_max_usd_per_run
    if tokens is None and policy.budget_max_tokens_per_run is not None:
        tokens = policy.budget_max_tokens_per_run
    policy.check_budget(tokens, usd)
    cap = policy.budget_max_usd_per_user_per_day
    left_in_run = None if usd is None else max(usd - already_spent_usd, 0.0)
    reservation = f"{run_id}@{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"  # one per launch
    try:
        reserved = ledger_for(policy).reserve(run_id, workspace, left_in_run, cap=cap, token=reservation)
    except ledger_mod.CapReached as exc:
        raise PolicyRefused("budget.max_usd_per_user_per_day", str(exc) + "; it resets at 00:00 UTC",
                            policy.source) from None
    if reserved is not None:
        usd = round(already_spent_usd + reserved, 8)
    admission = {
        "ts": time.time(), "resumed": resumed, "started_by": started_by, "user": ledger_mod.current_user(),
        "host": socket.gethostname(), "pid": os.getpid(), "workspace": str(workspace),
        "policy": {"source": policy.source, "sha256": policy.sha256},
        "provider": settings.provider,
        "endpoint": None if settings.provider == "scripted" else endpoint_of(settings, dict(os.environ)),
        "regions": [] if settings.provider == "scripted" else regions_of(settings, dict(os.environ)),
        "budget": {"tokens": tokens, "usd": usd}, "daily_cap_usd": cap, "reservation": reservation,
    }
    return replace(budget, tokens=tokens, usd=usd), admission


def release_unstarted(policy: Policy, run_id: str, workspace: Path, reservation: str) -> None:
    """A run that was admitted but could not launch: give its reservation back."""
    ledger_for(policy).settle(run_id, workspace, "", 0.0, 0, token=reservation)


def settle_run(info: Any, workspace: Path, reservation: str | None) -> float:
    try:
        policy = load()
    except Exception:
        policy = Policy()  # the spend is recorded in the default ledger rather than lost
    return ledger_for(policy).settle(info.id, workspace, info.workflow, float(info.cost_usd or 0.0),
                                     int(info.usage.total_tokens), token=reservation)


def approval_reason(plan: PlanEstimate, settings: Any) -> str | None:
    """Why a plan needs a person's yes (its `calls` or worst-case `cost_usd` above a
    threshold), or None. `settings` should come from `governed_settings` (policy
    thresholds applied); the language server's own settings are lowered here too, so a
    user setting can never raise a threshold above the policy's."""
    calls, usd = plan.calls, plan.cost_usd
    limit_calls, limit_usd = settings.approval_threshold_calls, settings.approval_threshold_usd
    try:
        policy = load()
    except Exception:
        policy = Policy()  # starting the run will refuse with the policy error itself
    if policy.approval_threshold_calls is not None:
        limit_calls = min(limit_calls, policy.approval_threshold_calls)
    if policy.approval_threshold_usd is not None:
        limit_usd = min(limit_usd, policy.approval_threshold_usd)
    reasons = []
    if calls > limit_calls:
        reasons.append(f"{calls} agent calls (threshold {limit_calls})")
    if usd > limit_usd:
        reasons.append(f"up to ${usd:.2f} (threshold ${limit_usd:.2f})")
    return " and ".join(reasons) or None


def record_admission(run_dir: Path, record: dict[str, Any]) -> None:
    with open(run_dir / ADMISSIONS, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")


def admissions(run_dir: Path) -> list[dict[str, Any]]:
    return _jsonl(run_dir / ADMISSIONS)


DECISIONS = "decisions.jsonl"  # in the run's folder: what people decided about its output


def record_decision(run_dir: Path, kind: str, **fields: Any) -> None:
    """Append a person's decision (an applied edit) to the run's decisions log, which the
    audit record reads. Not events.jsonl: only the process driving a run writes that."""
    if not run_dir.is_dir():
        return
    with open(run_dir / DECISIONS, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"kind": kind, "ts": time.time(), **fields}, sort_keys=True) + "\n")


def decisions(run_dir: Path) -> list[dict[str, Any]]:
    return _jsonl(run_dir / DECISIONS)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text("utf-8").splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a torn last line after a crash
    return out
