"""Budgets in tokens and US dollars, enforced by reservation.

Before a call is dispatched its worst case (Provider.worst_case: input estimate plus
max_tokens, priced at the dearest input rate) is reserved; after it finishes the
reservation is replaced by what it actually used. Because `spent + reserved` never
exceeds the limit, concurrent calls cannot together overshoot a hard budget. Replayed
calls reserve nothing and cost nothing.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any

from refute.orchestration.errors import BudgetExceeded
from refute.orchestration.model import Budget

_EPS = 1e-12


@dataclass
class Reservation:
    id: int
    tokens: int
    usd: float
    settled: bool = False


class BudgetLedger:
    def __init__(self, budget: Budget | None = None, *, spent_tokens: int = 0, spent_usd: float = 0.0):
        self.budget = budget or Budget()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.spent_tokens = int(spent_tokens)
        self.spent_usd = float(spent_usd)
        self.reserved_tokens = 0
        self.reserved_usd = 0.0
        self.overruns = 0  # calls whose actual use exceeded their reserved worst case

    def reserve(self, tokens: int, usd: float, label: str | None = None) -> Reservation:
        with self._lock:
            limit_t, limit_u = self.budget.tokens, self.budget.usd
            if limit_t is not None and self.spent_tokens + self.reserved_tokens + tokens > limit_t:
                left = max(limit_t - self.spent_tokens - self.reserved_tokens, 0)
                raise BudgetExceeded(
                    f"token budget: call {label or ''} may use up to {tokens:,} tokens but only {left:,} of "
                    f"{limit_t:,} are left (spent {self.spent_tokens:,}, reserved by calls in flight "
                    f"{self.reserved_tokens:,})".replace("call  may", "call may"),
                    label=label, kind="budget",
                )
            if limit_u is not None and self.spent_usd + self.reserved_usd + usd > limit_u + _EPS:
                left = max(limit_u - self.spent_usd - self.reserved_usd, 0.0)
                raise BudgetExceeded(
                    f"USD budget: call {label or ''} may cost up to ${usd:.4f} but only ${left:.4f} of "
                    f"${limit_u:.2f} is left (spent ${self.spent_usd:.4f}, reserved ${self.reserved_usd:.4f})"
                    .replace("call  may", "call may"),
                    label=label, kind="budget",
                )
            self.reserved_tokens += tokens
            self.reserved_usd += usd
            return Reservation(next(self._ids), tokens, usd)

    def settle(self, reservation: Reservation, tokens: int, usd: float) -> bool:
        """Replace a reservation by actual use. Returns False when the call used more than
        its reserved worst case (a provider bug worth an event; it is still counted)."""
        with self._lock:
            self.reserved_tokens -= reservation.tokens
            self.reserved_usd -= reservation.usd
            self.spent_tokens += int(tokens)
            self.spent_usd += float(usd)
            within = tokens <= reservation.tokens and usd <= reservation.usd + _EPS
            if not within:
                self.overruns += 1
            return within

    def release(self, reservation: Reservation) -> None:
        with self._lock:
            self.reserved_tokens -= reservation.tokens
            self.reserved_usd -= reservation.usd

    def view(self) -> dict[str, Any]:
        with self._lock:
            t, u = self.budget.tokens, self.budget.usd
            return {
                "tokens": {"total": t, "spent": self.spent_tokens, "reserved": self.reserved_tokens,
                           "remaining": None if t is None else max(t - self.spent_tokens - self.reserved_tokens, 0)},
                "usd": {"total": u, "spent": round(self.spent_usd, 6), "reserved": round(self.reserved_usd, 6),
                        "remaining": None if u is None else max(u - self.spent_usd - self.reserved_usd, 0.0)},
            }
