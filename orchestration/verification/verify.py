"""Verification: every claim gets an opponent.

`refute` sends a claim to k blind refuters (independent calls that never see each other's
verdicts), `vote` turns their verdicts into one outcome, `converge` repeats a step until
its answer set stops changing. The engine binds these three into every workflow script
(as `refute(claim)`, `vote(verdicts)`, `converge(step, key=...)`), passing its workflow
API object as `api`.

The voting rule, and why (the math the bench in bench/verify.py checks):

    Two blind refuters; if they agree, that is the outcome. If they split (or either is
    "uncertain"), one more blind refuter breaks the tie, and the outcome is the strict
    majority of all votes cast. A refutation has no veto.

With refuters that are independently right with probability p = 0.85:

    a true claim survives   P(2 of 3 right) = p^2 + 2 p (1-p) p           = 0.939
    a false claim survives  P(2 of 3 wrong) = (1-p)^2 + 2 p (1-p) (1-p)   = 0.061

so on candidates that are half false (finder precision 0.5):

    precision after = 0.939 / (0.939 + 0.061)                           = 0.939
    recall after    = 0.939 x recall before   (loses 6.1% of true findings)
    refuter calls   = 2 + P(split) = 2 + 2 p (1-p)                      = 2.255 per claim

The alternatives fail one target: "both must confirm" keeps precision 0.97 but loses
28% of true findings (0.85^2 = 0.72); "one confirmation is enough" keeps 98% of true
findings but lets 28% of false ones through (precision 0.78). Majority-of-three on every
claim gives the same numbers as the tie-break but always pays 3 calls; the tie-break pays
the third call only on the 25% of claims where the first two disagree.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Sequence

CONFIRMED = "confirmed"
REFUTED = "refuted"
UNCERTAIN = "uncertain"
VERDICTS = (CONFIRMED, REFUTED, UNCERTAIN)

# Each blind refuter attacks the claim from a different angle. The angle is part of the
# prompt, so the refuters' journal keys differ while staying deterministic across runs.
REFUTER_ANGLES = (
    "Read the quoted code literally. Does it really do what the claim says? Look for the "
    "line or condition that makes the claim false.",
    "Look outside the quoted code: callers, guards, validation, types, configuration or "
    "tests that make the claimed problem impossible in practice.",
    "Check the claim against the language's and libraries' actual semantics. Is the "
    "described behaviour what really happens at run time?",
    "Assume the claim is wrong and try to construct the strongest counter-argument from "
    "the code; accept the claim only if that fails.",
)

_SEVERITIES = ["error", "warning", "info", "hint"]

_FIX_SCHEMA = {
    "type": "object",
    "properties": {
        "old": {"type": "string", "description": "verbatim code to replace"},
        "new": {"type": "string", "description": "replacement code"},
    },
    "required": ["old", "new"],
    "additionalProperties": False,
}

_FINDING_SCHEMA = {
    "type": "object",
    "properties": {
        "path": {"type": "string", "description": "workspace-relative path of the file"},
        "quote": {"type": "string", "description": "verbatim code from the file the finding is about"},
        "title": {"type": "string"},
        "explanation": {"type": "string"},
        "severity": {"type": "string", "enum": _SEVERITIES},
        "category": {"type": "string", "description": "bug, security, performance, ..."},
        "cwe": {"type": "string", "description": "CWE id such as CWE-89, for security findings"},
        "fix": _FIX_SCHEMA,
    },
    "required": ["path", "quote", "title", "explanation", "severity", "category"],
    "additionalProperties": False,
}

SCHEMAS: dict[str, dict[str, Any]] = {
    # What a finder agent returns: candidate findings, each quoting the code it is about.
    "findings": {
        "type": "object",
        "properties": {"findings": {"type": "array", "items": _FINDING_SCHEMA}},
        "required": ["findings"],
        "additionalProperties": False,
    },
    "finding": _FINDING_SCHEMA,
    # What a researcher returns (a component, read-only tools): candidates, and a record of
    # the files it read and the files of its component it did not reach (the sweep of the
    # unreached searches those; runtime/fanout.py).
    "research": {
        "type": "object",
        "properties": {"findings": {"type": "array", "items": _FINDING_SCHEMA},
                       "read": {"type": "array", "items": {"type": "string"}},
                       "not_reached": {"type": "array", "items": {"type": "string"}}},
        "required": ["findings"],
        "additionalProperties": False,
    },
    # What a security finder or researcher returns: findings with a CWE id, and the same
    # record of what it read as "research".
    "security": {
        "type": "object",
        "properties": {
            "findings": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "path": {"type": "string"}, "quote": {"type": "string"}, "title": {"type": "string"},
                    "explanation": {"type": "string"},
                    "severity": {"type": "string", "enum": _SEVERITIES},
                    "category": {"type": "string", "enum": ["security"]},
                    "cwe": {"type": "string"},
                    "fix": {"type": "object", "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
                            "required": ["old", "new"]},
                },
                "required": ["path", "quote", "title", "explanation", "severity", "category", "cwe"],
            }},
            "read": {"type": "array", "items": {"type": "string"}},
            "not_reached": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["findings"],
    },
    # What a refuter returns.
    "verdict": {
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": list(VERDICTS)},
            "reason": {"type": "string"},
            "evidence": {"type": "string", "description": "quoted counter-evidence from the code"},
            "severity": {"type": "string", "enum": _SEVERITIES,
                         "description": "if you confirm: how severe it really is (it can only lower the claim's)"},
        },
        "required": ["verdict", "reason", "evidence"],
        "additionalProperties": False,
    },
    # What an editor agent returns for one file.
    "edit": {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "changed": {"type": "boolean", "description": "false when the file needs no change"},
            "edits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
                    "required": ["old", "new"],
                    "additionalProperties": False,
                },
            },
            "reason": {"type": "string"},
        },
        "required": ["path", "changed", "edits", "reason"],
        "additionalProperties": False,
    },
    # What a migration surveyor returns: the places an instruction touches, and the
    # conventions every migrated file must follow (merged into the migration guide).
    "survey": {
        "type": "object",
        "properties": {
            "touches": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"path": {"type": "string"}, "what": {"type": "string"}},
                    "required": ["path", "what"],
                    "additionalProperties": False,
                },
            },
            "conventions": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["touches", "conventions"],
        "additionalProperties": False,
    },
    # What a reviewer returns about a proposed edit.
    "review": {
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": ["approve", "reject"]},
            "reason": {"type": "string"},
            "evidence": {"type": "string"},
        },
        "required": ["verdict", "reason", "evidence"],
        "additionalProperties": False,
    },
    # What an `ask` / `review` agent returns: claims about the code, each with a quote.
    "claims": {
        "type": "object",
        "properties": {
            "claims": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "claim": {"type": "string"},
                        "path": {"type": "string"},
                        "quote": {"type": "string"},
                    },
                    "required": ["claim", "path", "quote"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["claims"],
        "additionalProperties": False,
    },
}

_REFUTER_SYSTEM = (
    "You are a blind refuter. Another agent made the claim below about a codebase. Your job "
    "is to try to prove it wrong, using only the code (read it with your tools). You do not "
    "see any other reviewer's opinion. Answer 'refuted' only with quoted counter-evidence "
    "from the code, 'confirmed' if the claim holds after you tried to break it, and "
    "'uncertain' if the code does not settle it."
)

# Claim fields that are plumbing, not content to show a refuter.
_NOT_SHOWN = {"unit", "verdicts", "confidence", "provenance", "fingerprint", "span"}


def refute(
    api: Any,
    claim: dict[str, Any],
    *,
    k: int = 2,
    model: str | None = None,
    role: str = "refuter",
    tools: Sequence[str] = ("read_file", "search_text"),
    context: str | None = None,
    tiebreak: bool = True,
) -> list[dict[str, Any]]:
    """k blind refuters each try to disprove `claim`; returns their verdicts.

    Each refuter is an independent call (own prompt, no other verdicts in sight), run via
    `api.parallel`. With `tiebreak` (the default), a panel without a majority that one
    more vote could decide (a split, or one side plus "uncertain") gets one more blind
    refuter (see the module docstring). Each verdict is {"verdict", "reason",
    "evidence", "agent"}.
    """
    if not isinstance(claim, dict):
        raise TypeError(f"refute(claim): claim must be a dict, got {type(claim).__name__}")
    if k < 1:
        raise ValueError(f"refute(k={k}): need at least one refuter")
    shown = {key: value for key, value in claim.items() if key not in _NOT_SHOWN}
    claim_text = json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    unit = claim.get("unit")
    where = claim.get("path") or "claim"

    def refuter(index: int, total: int) -> Callable[[], dict[str, Any]]:
        angle = REFUTER_ANGLES[index % len(REFUTER_ANGLES)]
        prompt = (
            f"Refuter {index + 1} (angle: {angle})\n\n"
            f"Claim to check:\n{claim_text}\n\n"
            "Reply with your verdict, the reason, and the code you quote as evidence."
        )
        label = f"refute {index + 1}/{total} {where}"

        def call() -> dict[str, Any]:
            kwargs: dict[str, Any] = dict(
                context=context, schema=SCHEMAS["verdict"], role=role, label=label,
                tools=tuple(tools), system=_REFUTER_SYSTEM,
            )
            if model is not None:
                kwargs["model"] = model
            if unit is not None:
                kwargs["unit"] = unit
            return _clean_verdict(api.agent(prompt, **kwargs), label)

        return call

    verdicts = _failed_as_uncertain(api.parallel([refuter(i, k) for i in range(k)]), 0, k, where)
    if tiebreak and _one_more_decides(verdicts):
        verdicts.extend(_failed_as_uncertain(api.parallel([refuter(k, k + 1)]), k, k + 1, where))
    return verdicts


def _failed_as_uncertain(results: list[Any], first: int, total: int, where: str) -> list[dict[str, Any]]:
    """A refuter whose call failed (parallel() gives None) casts an uncertain vote: it
    supports neither side, so a claim is never confirmed by a failure."""
    return [r if r is not None else {"verdict": UNCERTAIN, "reason": "the refuter call failed (see the run's "
                                     "failed calls)", "evidence": "", "agent": f"refute {first + i + 1}/{total} {where}"}
            for i, r in enumerate(results)]


def _clean_verdict(raw: Any, label: str) -> dict[str, Any]:
    """A refuter's answer as a verdict dict; anything malformed counts as uncertain."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = {"verdict": UNCERTAIN, "reason": f"unparseable refuter answer: {raw[:200]!r}"}
    if not isinstance(raw, dict):
        raw = {"verdict": UNCERTAIN, "reason": f"refuter returned {type(raw).__name__}"}
    verdict = str(raw.get("verdict", "")).strip().lower()
    if verdict not in VERDICTS:
        verdict = UNCERTAIN
    cleaned = {
        "verdict": verdict,
        "reason": str(raw.get("reason", "")),
        "evidence": str(raw.get("evidence", "")),
        "agent": label,
    }
    severity = str(raw.get("severity") or "").strip().lower()
    if severity in _SEVERITIES:
        cleaned["severity"] = severity
    return cleaned


def _one_more_decides(verdicts: Sequence[dict[str, Any]]) -> bool:
    """True when the panel has no majority yet and one more vote could make one
    (a 1-1 split, or one side plus an uncertain vote); two uncertain votes cannot be
    outvoted by a third, so they are left as they are."""
    outcome = vote(verdicts)
    if outcome["verdict"] != UNCERTAIN:
        return False
    leading = max(outcome["votes"][CONFIRMED], outcome["votes"][REFUTED])
    return leading + 1 >= (len(verdicts) + 1) // 2 + 1


def vote(verdicts: Iterable[dict[str, Any]], quorum: int | None = None) -> dict[str, Any]:
    """Aggregate verdicts into {"verdict", "confidence", "votes"}.

    Rule: "confirmed" when confirmations reach `quorum` (default: a strict majority of the
    votes cast); otherwise "refuted" when refutations are a strict majority; otherwise
    "uncertain". Uncertain votes count as cast but support neither side, so they can only
    make an outcome harder to reach. `confidence` is the support for the claim:
    (confirmations + half the uncertain votes) / votes cast, 0 with no votes.
    """
    votes = {CONFIRMED: 0, REFUTED: 0, UNCERTAIN: 0}
    for item in verdicts:
        kind = item.get("verdict") if isinstance(item, dict) else getattr(item, "verdict", None)
        votes[kind if kind in votes else UNCERTAIN] += 1
    cast = sum(votes.values())
    if cast == 0:
        return {"verdict": UNCERTAIN, "confidence": 0.0, "votes": votes}
    majority = cast // 2 + 1
    needed = majority if quorum is None else max(1, int(quorum))
    if votes[CONFIRMED] >= needed:
        outcome = CONFIRMED
    elif votes[REFUTED] >= majority:
        outcome = REFUTED
    else:
        outcome = UNCERTAIN
    confidence = round((votes[CONFIRMED] + 0.5 * votes[UNCERTAIN]) / cast, 3)
    return {"verdict": outcome, "confidence": confidence, "votes": votes}


def converge(
    api: Any,
    step: Callable[[int, list | None], Iterable[Any]],
    *,
    key: Callable[[Any], Any],
    max_rounds: int = 3,
    stable_rounds: int = 1,
) -> list:
    """Call `step(round, previous)` until the set of `key(item)` stops changing.

    Stops when the key set has been unchanged for `stable_rounds` consecutive rounds, after
    `max_rounds`, or when the budget left could not pay for another round at its worst
    case. The worst case is conservative because the budget reserves each call's worst
    case (input + max_tokens) before sending it, which is far more than calls usually
    spend: the next round is priced at 1.5x the costliest round's actual tokens plus
    DEFAULT_MAX_OUTPUT for each call that round paid for. If a call is refused for budget
    anyway, the last complete round is returned (the refusal stays recorded as a failed
    call). Logs why it stopped. Returns the last complete round's items.
    """
    from refute.orchestration.errors import BudgetExceeded

    if max_rounds < 1:
        raise ValueError(f"converge(max_rounds={max_rounds}): need at least one round")
    previous: list | None = None
    previous_keys: frozenset | None = None
    unchanged = 0
    worst_round = 0.0
    reason = f"reached max_rounds={max_rounds}"
    for round_index in range(max_rounds):
        spent_before, calls_before = _spent(api), _paid_calls(api)
        try:
            items = list(step(round_index, previous))
        except BudgetExceeded as exc:
            reason = f"budget: round {round_index + 1} was refused ({exc}); returning round {round_index}"
            break
        spent_after, calls_after = _spent(api), _paid_calls(api)
        if spent_before is not None and spent_after is not None:
            calls = (calls_after - calls_before) if calls_before is not None and calls_after is not None else 0
            worst_round = max(worst_round, (spent_after - spent_before) * _ROUND_MARGIN + calls * DEFAULT_MAX_OUTPUT)
        keys = frozenset(key(item) for item in items)
        if previous_keys is not None and keys == previous_keys:
            unchanged += 1
        else:
            unchanged = 0
        previous, previous_keys = items, keys
        if unchanged >= stable_rounds:
            reason = f"answer set stable for {unchanged} round(s) after {round_index + 1} round(s)"
            break
        if round_index + 1 < max_rounds:
            left = _remaining(api)
            if left is not None and left < worst_round:
                reason = (f"budget: {left:.0f} tokens left, another round may reserve up to "
                          f"{worst_round:.0f} (after {round_index + 1} round(s))")
                break
    _log(api, f"converge stopped: {reason}")
    return previous or []


# A next round is assumed to cost up to this multiple of the costliest round so far, plus
# a full default output allowance per call (what the budget reserves before each call).
_ROUND_MARGIN = 1.5
DEFAULT_MAX_OUTPUT = 4096


def _paid_calls(api: Any) -> int | None:
    """Calls sent to a provider so far (journal replays excluded), when the API tells."""
    stats = getattr(getattr(api, "scheduler", None), "stats", None)
    value = getattr(stats, "calls_done", None)
    return value if isinstance(value, int) else None


def _budget_value(api: Any, names: Sequence[str]) -> float | None:
    budget = getattr(api, "budget", None)
    if budget is None:
        return None
    for name in names:
        value = budget.get(name) if isinstance(budget, dict) else getattr(budget, name, None)
        if callable(value):
            value = value()
        if isinstance(value, (int, float)):
            return float(value)
    return None


def _spent(api: Any) -> float | None:
    """Tokens spent (or reserved) so far in the run, if the budget view tells."""
    return _budget_value(api, ("spent_tokens", "tokens_spent", "used_tokens", "tokens_used"))


def _remaining(api: Any) -> float | None:
    """Tokens left in the run's budget; None when the budget is unlimited or unknown."""
    return _budget_value(api, ("remaining_tokens", "tokens_remaining", "tokens_left"))


def _log(api: Any, message: str) -> None:
    log = getattr(api, "log", None)
    if callable(log):
        log(message)
