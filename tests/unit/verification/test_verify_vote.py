"""refute / vote / converge against a stand-in workflow API."""

from __future__ import annotations

import pytest

from refute.orchestration.verification.verify import SCHEMAS, converge, refute, vote
from refute.orchestration.verification import schemas as runtime_schemas

from verification_fakes import FakeApi, claim_in

CLAIM = {"path": "app.py", "quote": "x = items[len(items)]", "title": "index out of range",
         "explanation": "len(items) is one past the end", "category": "bug", "severity": "error"}


def fixed(*answers):
    queue = list(answers)

    def responder(prompt, kwargs):
        return queue.pop(0)

    return responder


def test_refuters_are_blind_distinct_and_read_only():
    api = FakeApi(fixed({"verdict": "confirmed", "reason": "a", "evidence": "e"},
                        {"verdict": "confirmed", "reason": "b", "evidence": "e"}))
    verdicts = refute(api, CLAIM)
    assert [v["verdict"] for v in verdicts] == ["confirmed", "confirmed"]
    prompts = [p for p, _ in api.calls]
    assert len(set(prompts)) == 2, "each refuter needs its own prompt (own journal key)"
    for prompt, kwargs in api.calls:
        assert claim_in(prompt)["quote"] == CLAIM["quote"]
        assert "confirmed" not in claim_in(prompt).values()  # no other verdict leaks in
        assert kwargs["role"] == "refuter"
        assert kwargs["tools"] == ("read_file", "search_text")
        assert kwargs["schema"] == SCHEMAS["verdict"]
    assert api.parallel_batches == [2], "both refuters go out together, no tie-break needed"
    # Deterministic: the same claim gives the same prompts again.
    api2 = FakeApi(fixed({"verdict": "confirmed", "reason": "", "evidence": ""},
                         {"verdict": "confirmed", "reason": "", "evidence": ""}))
    refute(api2, dict(CLAIM))
    assert [p for p, _ in api2.calls] == prompts


def test_split_panel_gets_one_blind_tiebreaker():
    api = FakeApi(fixed({"verdict": "confirmed", "reason": "", "evidence": ""},
                        {"verdict": "refuted", "reason": "guarded", "evidence": "if items:"},
                        {"verdict": "refuted", "reason": "guarded", "evidence": "if items:"}))
    verdicts = refute(api, CLAIM)
    assert len(verdicts) == 3 and api.parallel_batches == [2, 1]
    third_prompt = api.calls[2][0]
    assert "guarded" not in third_prompt, "the tie-breaker must not see the others' reasons"
    assert vote(verdicts)["verdict"] == "refuted"


def test_malformed_refuter_answer_counts_as_uncertain():
    api = FakeApi(fixed("not json at all", {"verdict": "CONFIRMED", "reason": "", "evidence": ""},
                        {"verdict": "maybe"}))
    verdicts = refute(api, CLAIM)
    assert [v["verdict"] for v in verdicts] == ["uncertain", "confirmed", "uncertain"]
    assert vote(verdicts)["verdict"] == "uncertain"


@pytest.mark.parametrize("kinds,expected,confidence", [
    (["confirmed", "confirmed"], "confirmed", 1.0),
    (["refuted", "refuted"], "refuted", 0.0),
    (["confirmed", "refuted", "confirmed"], "confirmed", 0.667),
    (["confirmed", "refuted", "refuted"], "refuted", 0.333),
    (["confirmed", "uncertain"], "uncertain", 0.75),
    (["confirmed", "refuted", "uncertain"], "uncertain", 0.5),
    ([], "uncertain", 0.0),
])
def test_vote_majority_rule(kinds, expected, confidence):
    outcome = vote([{"verdict": k} for k in kinds])
    assert outcome["verdict"] == expected
    assert outcome["confidence"] == pytest.approx(confidence, abs=1e-3)
    assert sum(outcome["votes"].values()) == len(kinds)


def test_vote_explicit_quorum():
    two_of_three = [{"verdict": "confirmed"}, {"verdict": "confirmed"}, {"verdict": "refuted"}]
    assert vote(two_of_three, quorum=3)["verdict"] == "uncertain"
    assert vote(two_of_three, quorum=1)["verdict"] == "confirmed"


def test_schemas_are_checked_by_the_runtime_validator():
    good = {"findings": [{"path": "a.py", "quote": "x", "title": "t", "explanation": "e",
                          "severity": "error", "category": "bug", "cwe": "CWE-89",
                          "fix": {"old": "x", "new": "y"}}]}
    assert runtime_schemas.validate(good, SCHEMAS["findings"]) == []
    assert runtime_schemas.validate({"findings": [{"path": "a.py"}]}, SCHEMAS["findings"])
    assert runtime_schemas.validate({"verdict": "confirmed", "reason": "", "evidence": ""}, SCHEMAS["verdict"]) == []
    assert runtime_schemas.validate({"verdict": "yes", "reason": "", "evidence": ""}, SCHEMAS["verdict"])
    for name in ("edit", "review", "claims", "finding"):
        assert runtime_schemas.validate(runtime_schemas.placeholder(SCHEMAS[name]), SCHEMAS[name]) == []


class Budget:
    def __init__(self, remaining):
        self.remaining_tokens = remaining
        self.spent_tokens = 0


def test_converge_stops_when_the_answer_set_is_stable():
    api = FakeApi(lambda p, k: None)
    answers = [["a", "b"], ["a", "b", "c"], ["c", "b", "a"], ["x"]]
    seen = []

    def step(round_index, previous):
        seen.append((round_index, previous))
        return answers[round_index]

    result = converge(api, step, key=lambda s: s, max_rounds=4)
    assert sorted(result) == ["a", "b", "c"]
    assert [r for r, _ in seen] == [0, 1, 2]
    assert seen[1][1] == ["a", "b"], "each round sees the previous round's answer"
    assert "stable" in api.messages[-1]


def test_converge_respects_max_rounds_and_logs_it():
    api = FakeApi(lambda p, k: None)
    result = converge(api, lambda r, prev: [r], key=lambda x: x, max_rounds=3)
    assert result == [2]
    assert "max_rounds=3" in api.messages[-1]


def test_converge_stops_before_a_round_the_budget_cannot_pay():
    budget = Budget(remaining=1000)
    api = FakeApi(lambda p, k: None, budget=budget)

    def step(round_index, previous):
        budget.spent_tokens += 600  # each round costs 600 tokens
        budget.remaining_tokens -= 600
        return [round_index]

    result = converge(api, step, key=lambda x: x, max_rounds=5)
    assert result == [0], "400 tokens left cannot pay a round that cost 600"
    assert "budget" in api.messages[-1]


def test_refute_rejects_bad_input():
    api = FakeApi(lambda p, k: None)
    with pytest.raises(TypeError):
        refute(api, "not a dict")
    with pytest.raises(ValueError):
        refute(api, CLAIM, k=0)


def test_converge_returns_the_last_complete_round_when_a_call_is_refused_for_budget():
    from refute.orchestration.errors import BudgetExceeded

    api = FakeApi(lambda p, k: None)

    def step(round_index, previous):
        if round_index == 2:
            raise BudgetExceeded("token budget: only 10 left", kind="budget")
        return [round_index]

    assert converge(api, step, key=lambda x: x, max_rounds=5) == [1]
    assert "round 3 was refused" in api.messages[-1]


def test_no_tiebreaker_when_it_cannot_change_the_outcome():
    both_uncertain = FakeApi(fixed({"verdict": "uncertain", "reason": "", "evidence": ""},
                                   {"verdict": "uncertain", "reason": "", "evidence": ""}))
    assert len(refute(both_uncertain, CLAIM)) == 2
    three_split = FakeApi(fixed(*[{"verdict": v, "reason": "", "evidence": ""}
                                  for v in ("confirmed", "refuted", "confirmed")]))
    assert len(refute(three_split, CLAIM, k=3)) == 3, "2-1 of three is already a majority"
    refuted = FakeApi(fixed(*[{"verdict": "refuted", "reason": "", "evidence": ""}] * 2))
    assert len(refute(refuted, CLAIM)) == 2
