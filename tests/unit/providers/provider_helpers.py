"""Helpers shared by the provider tests."""

from __future__ import annotations

from pathlib import Path


def call_under_budget(provider, workspace: Path, request, tokens: int):
    """One call through a real Scheduler under a token budget: (result, ledger)."""
    from refute.orchestration.calls.budget import BudgetLedger
    from refute.orchestration.calls.scheduler import Scheduler
    from refute.orchestration.model import Budget

    ledger = BudgetLedger(Budget(tokens=tokens))
    scheduler = Scheduler(provider=provider, journal=None, ledger=ledger, run_id="r", workspace=str(workspace),
                          emit=lambda t, **f: None)
    try:
        return scheduler.call(request), ledger
    finally:
        scheduler.close()
