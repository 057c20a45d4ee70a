"""The workflow API as scripts see it (in-process driver, instrumented provider)."""

from __future__ import annotations

import json

import pytest

from refute.orchestration.model import Budget, Usage

from orch_helpers import InstrumentedProvider, driver, script


def test_units_budget_log_and_phase(tmp_path):
    (tmp_path / "a.py").write_text("\n".join(f"x{i} = {i}" for i in range(30)) + "\n")
    provider = InstrumentedProvider(usage=lambda req: Usage(input_tokens=100, output_tokens=20))
    body = ("    phase('look')\n    us = units()\n    agent('q', unit=us[0])\n    print('units', len(us))\n"
            "    return [len(us) > 0, 'text' in us[0], budget.spent_tokens, budget['tokens']['total'],\n"
            "            budget.remaining_tokens, budget.usd['total']]")
    events: list = []
    d = driver(tmp_path, script(body), provider, budget=Budget(tokens=10_000), events=events)
    outcome = d.execute()
    assert outcome.status == "completed", outcome.error
    assert outcome.result == [True, True, 120, 10_000, 10_000 - 120, None]
    sent = provider.calls[0]
    # The unit's code is the cached prefix (context); the question follows it.
    assert "<code path=\"a.py\" lines=\"1-" in sent.context and "x0 = 0" in sent.context and sent.prompt == "q"
    assert sent.unit_hash and sent.label.startswith("a.py:1")
    assert {"type": "phase", "name": "look"} in events
    assert any(e["type"] == "log" and e["message"].startswith("units ") for e in events)


def test_propose_edit_records_and_emits(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    events: list = []
    body = "    return propose_edit('m.py', old='return 1', new='return 2', reason='off by one')['path']"
    outcome = driver(tmp_path, script(body), InstrumentedProvider(), events=events).execute()
    assert outcome.status == "completed" and outcome.result == "m.py"
    edits = [e for e in events if e["type"] == "edit_proposed"]
    assert len(edits) == 1 and edits[0]["edit"]["new_text"] == "def f():\n    return 2\n"
    assert (tmp_path / "m.py").read_text() == "def f():\n    return 1\n"  # nothing written


def test_locate_uses_the_findings_check_and_stays_in_the_workspace(tmp_path):
    (tmp_path / "m.py").write_text("def f(x):\n    return x  +  1\n")
    (tmp_path / ".env").write_text("TOKEN=abc\n")
    body = ("    return [locate('m.py', 'return x + 1'), locate('m.py', 'return y'), locate('../m.py', 'def f'),\n"
            "            locate('.env', 'TOKEN'), locate('nope.py', 'x')]")
    outcome = driver(tmp_path, script(body), InstrumentedProvider()).execute()
    assert outcome.status == "completed", outcome.error
    assert outcome.result == [{"path": "m.py", "line": 2, "end_line": 2}, None, None, None, None]


def test_refute_and_vote_are_bound_from_verify(tmp_path):
    provider = InstrumentedProvider(answer=lambda req: {"verdict": "refuted", "reason": "guarded above",
                                                        "evidence": "if b == 0: return"})
    body = ("    verdicts = refute({'path': 'a.py', 'title': 'div by zero', 'quote': 'a / b'}, k=2)\n"
            "    return [len(verdicts), vote(verdicts)['outcome'] if 'outcome' in vote(verdicts) else vote(verdicts)]")
    outcome = driver(tmp_path, script(body), provider).execute()
    assert outcome.status == "completed", outcome.error
    assert outcome.result[0] == 2
    assert "refuted" in json.dumps(outcome.result[1])
    assert all(r.role == "refuter" for r in provider.calls)


def test_provenance_follows_the_thunk_that_made_the_calls(tmp_path):
    (tmp_path / "app.py").write_text("def div(a, b):\n    return a / b\n\ndef sub(a, b):\n    return a - b\n")
    quotes = {"one": "return a / b", "two": "return a - b"}
    provider = InstrumentedProvider(answer=lambda req: {"path": "app.py", "quote": quotes[req.prompt.split()[-1]],
                                                        "title": "t " + req.prompt, "explanation": "e",
                                                        "severity": "info", "category": "bug"})
    events: list = []
    body = ("    def one(name):\n        return report(agent('look at ' + name, schema={'type': 'object'}))\n"
            "    return parallel([lambda: one('one'), lambda: one('two')])")
    outcome = driver(tmp_path, script(body), provider, events=events).execute()
    assert outcome.status == "completed", outcome.error
    keys = {e["label"] or e["key"]: e["key"] for e in events if e["type"] == "call_finished"}
    findings = [e["finding"] for e in events if e["type"] == "finding"]
    assert len(findings) == 2
    by_title = {f["title"]: f["provenance"] for f in findings}
    call_key = {r.prompt: r.key() for r in provider.calls}
    assert by_title["t look at one"] == [call_key["look at one"]]
    assert by_title["t look at two"] == [call_key["look at two"]]
    assert len(keys) == 2


def test_nested_parallel_inside_tasks_does_not_deadlock(tmp_path):
    provider = InstrumentedProvider(latency=0.01)
    body = ("    def outer(i):\n        return sum(len(x) for x in parallel([lambda j=j: agent('q %d %d' % (i, j)) for j in range(4)]))\n"
            "    return sum(parallel([lambda i=i: outer(i) for i in range(40)]))")
    d = driver(tmp_path, script(body), provider)
    outcome = d.execute()
    assert outcome.status == "completed" and outcome.result == 160 * 2
    assert len(provider.calls) == 160


def test_agent_argument_errors_are_clear(tmp_path):
    outcome = driver(tmp_path, script("    return agent('')"), InstrumentedProvider()).execute()
    assert outcome.status == "failed" and "non-empty string" in outcome.error and "line 4" in outcome.error
    outcome = driver(tmp_path, script("    return agent('q', model='gpt-9')"), InstrumentedProvider()).execute()
    assert outcome.status == "failed" and "no price for model 'gpt-9'" in outcome.error


def test_secrets_in_prompts_are_redacted_before_the_call(tmp_path):
    provider = InstrumentedProvider()
    key = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8" * 5
    outcome = driver(tmp_path, script(f"    return agent('the key is {key}')"), provider).execute()
    assert outcome.status == "completed"
    assert key not in provider.calls[0].prompt and "REDACTED" in provider.calls[0].prompt


def _finder_and_refuters(quote: str, verdict: str = "confirmed") -> InstrumentedProvider:
    def answer(req):
        if req.role == "refuter":
            return {"verdict": verdict, "reason": "checked", "evidence": quote}
        return {"findings": [{"path": "app.py", "quote": quote, "title": "division by zero", "explanation": "b may be 0",
                              "severity": "error", "category": "bug"}]}
    return InstrumentedProvider(answer=answer)


def test_provenance_of_a_finding_reported_after_refute_names_finder_and_refuters(tmp_path):
    (tmp_path / "app.py").write_text("def div(a, b):\n    return a / b\n")
    provider = _finder_and_refuters("return a / b")
    events: list = []
    body = ("    found = agent('find bugs', schema={'type': 'object'}, role='finder', label='find')['findings'][0]\n"
            "    verdicts = refute(found, k=2)\n"
            "    if vote(verdicts)['verdict'] == 'confirmed':\n"
            "        return report(found)['provenance']\n")
    outcome = driver(tmp_path, script(body), provider, events=events).execute()
    assert outcome.status == "completed", outcome.error
    finder = next(r.key() for r in provider.calls if r.role == "finder")
    refuters = {r.key() for r in provider.calls if r.role == "refuter"}
    assert len(refuters) == 2
    # refute() ran its refuters in parallel() threads; their keys still reach the finding.
    assert outcome.result[0] == finder and set(outcome.result[1:]) == refuters


def test_parallel_hands_keys_of_nested_thunks_to_the_caller_once_each(tmp_path):
    provider = InstrumentedProvider()
    body = ("    def inner(i):\n        return parallel([lambda: agent('deep %d' % i), lambda: agent('deeper %d' % i)])\n"
            "    names = iter(['a', 'b'])\n    step = lambda: agent('step ' + next(names))\n"
            "    parallel([lambda: inner(1), lambda: inner(2), step, step])\n"
            "    return report({'path': 'app.py', 'quote': 'return 1', 'title': 't', 'explanation': 'e',\n"
            "                   'severity': 'info', 'category': 'bug'})['provenance']")
    (tmp_path / "app.py").write_text("def f():\n    return 1\n")
    outcome = driver(tmp_path, script(body), provider).execute()
    assert outcome.status == "completed", outcome.error
    keys = {r.prompt: r.key() for r in provider.calls}
    assert outcome.result[:4] == [keys["deep 1"], keys["deeper 1"], keys["deep 2"], keys["deeper 2"]]
    # one function passed twice: both of its runs are counted
    assert sorted(outcome.result[4:]) == sorted([keys["step a"], keys["step b"]])


def test_bundled_audit_records_finder_and_refuter_calls_in_provenance(tmp_path):
    from refute.orchestration.sandbox.scripts import resolve

    (tmp_path / "app.py").write_text("def div(a, b):\n    return a / b\n")
    provider = _finder_and_refuters("return a / b")
    events: list = []
    d = driver(tmp_path, resolve(tmp_path, "audit").source, provider, events=events)
    outcome = d.execute()
    assert outcome.status == "completed", outcome.error
    findings = [e["finding"] for e in events if e["type"] == "finding"]
    assert len(findings) == 1
    finder = [r.key() for r in provider.calls if r.role == "finder"]
    refuters = {r.key() for r in provider.calls if r.role == "refuter"}
    assert len(finder) == 1 and len(refuters) == 2
    provenance = findings[0]["provenance"]
    assert provenance[0] == finder[0] and set(provenance[1:]) == refuters


def test_schemas_global_is_a_read_only_copy_of_verify_schemas(tmp_path):
    from refute.orchestration.verification.verify import SCHEMAS

    body = ("    mine = SCHEMAS['verdict']\n    mine['properties']['extra'] = {'type': 'string'}\n"
            "    whole = dict(SCHEMAS)\n    whole['verdict']['required'].append('extra')\n"
            "    try:\n        SCHEMAS['verdict'] = {}\n        refused = False\n    except TypeError:\n        refused = True\n"
            "    return [sorted(SCHEMAS), 'extra' in SCHEMAS['verdict']['properties'],\n"
            "            SCHEMAS['verdict']['required'], refused, SCHEMAS.get('nope', 'none'),\n"
            "            json.loads(json.dumps(SCHEMAS))['finding']['required']]\n")
    outcome = driver(tmp_path, script("    import json\n" + body), InstrumentedProvider()).execute()
    assert outcome.status == "completed", outcome.error
    names, leaked, required, refused, missing, finding_required = outcome.result
    assert names == sorted(SCHEMAS) and "verdict" in names and "findings" in names
    assert leaked is False and required == SCHEMAS["verdict"]["required"] and "extra" not in required
    assert refused is True and missing == "none" and finding_required == SCHEMAS["finding"]["required"]
    assert "extra" not in SCHEMAS["verdict"]["properties"]  # the engine's copy is untouched


def test_a_findings_cost_is_what_the_calls_behind_it_cost(tmp_path):
    """Issue 16: audit findings said "cost $0.0000" in a run that cost $0.03."""
    from refute.orchestration.sandbox.scripts import resolve

    (tmp_path / "app.py").write_text("def div(a, b):\n    return a / b\n")
    provider = _finder_and_refuters("return a / b")
    events: list = []
    outcome = driver(tmp_path, resolve(tmp_path, "audit").source, provider, events=events).execute()
    assert outcome.status == "completed", outcome.error
    (finding,) = [e["finding"] for e in events if e["type"] == "finding"]
    cost_by_key = {e["key"]: e["cost_usd"] for e in events if e["type"] == "call_finished"}
    assert finding["cost_usd"] > 0
    assert finding["cost_usd"] == pytest.approx(sum(cost_by_key[k] for k in finding["provenance"]))
    # Re-run: every call replays at zero tokens; the finding keeps what its calls cost once.
    events2: list = []
    again = driver(tmp_path, resolve(tmp_path, "audit").source, provider, events=events2, run_id="run-2").execute()
    assert again.status == "completed", again.error
    (finding2,) = [e["finding"] for e in events2 if e["type"] == "finding"]
    assert all(e["replayed"] for e in events2 if e["type"] == "call_finished")
    assert finding2["cost_usd"] == pytest.approx(finding["cost_usd"])
