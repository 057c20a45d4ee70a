"""Helpers for the verification tests: a tiny stand-in for the workflow API."""

from __future__ import annotations

import json
import re
from typing import Any, Callable


class FakeApi:
    """Records every agent call; answers with `responder(prompt, kwargs)`."""

    def __init__(self, responder: Callable[[str, dict[str, Any]], Any], budget: Any = None):
        self.responder = responder
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.parallel_batches: list[int] = []
        self.budget = budget
        self.messages: list[str] = []

    def agent(self, prompt: str, **kwargs: Any) -> Any:
        self.calls.append((prompt, kwargs))
        return self.responder(prompt, kwargs)

    def parallel(self, thunks):
        thunks = list(thunks)
        self.parallel_batches.append(len(thunks))
        return [thunk() for thunk in thunks]

    def log(self, message: str) -> None:
        self.messages.append(message)


def claim_in(prompt: str) -> dict[str, Any]:
    match = re.search(r"Claim to check:\n(\{.*?\n\})\n", prompt, re.S)
    assert match, f"refuter prompt carries no claim: {prompt[:200]}"
    return json.loads(match.group(1))



# --- running a bundled workflow script in the real sandbox, without the engine ------------

import functools
from importlib import resources
from pathlib import Path

from refute.orchestration.verification import verify
from refute.orchestration.calls.capacity import sweep
from refute.orchestration.verification.edits import EditsStore
from refute.orchestration.verification.findings import FindingsStore, locate_quote
from refute.orchestration.sandbox.restricted import compile_script, make_globals


def file_units(workspace: Path) -> list[dict]:
    """Work units as the engine's units() returns them (dicts), one per file here."""
    out = []
    for path in sorted(workspace.rglob("*.py")):
        if ".git" in path.parts or ".refute" in path.parts:
            continue
        rel = path.relative_to(workspace).as_posix()
        text = path.read_text()
        out.append(dict(id=rel, path=rel, language="python", start_line=0, end_line=max(text.count("\n") - 1, 0),
                        symbol=None, header="", text=text, content_hash=rel, tokens=0))
    return out


class SandboxRun:
    """Runs a workflow script in the sandbox with a sequential stand-in for the engine's API."""

    def __init__(self, workspace: Path, state_dir: Path, responder, run_id: str = "run1"):
        self.workspace, self.run_id = workspace, run_id
        self.api = FakeApi(responder)
        self.findings = FindingsStore(workspace, state_dir)
        self.edits = EditsStore(workspace, state_dir)
        self.events: list[tuple[str, str]] = []  # (kind, detail) in order
        self.phases: list[str] = []
        from refute.orchestration.verification.primitives import MigrationPrimitives

        self.migration = MigrationPrimitives(workspace=workspace, state_dir=state_dir, run_id=run_id, dry_run=False,
                                             emit=lambda kind, **fields: self.events.append((kind, str(fields))))

    # What calls/capacity.sweep reads and writes: an unlimited budget, no ledger.
    budget = type("Unlimited", (), {"to_dict": staticmethod(lambda: {
        "tokens": {"remaining": None}, "usd": {"remaining": None}, "calls": {"remaining": 1000, "paid": 0}})})()

    def parallel(self, thunks):
        return self.api.parallel(thunks)

    def mark_covered(self, units):
        self.covered = list(units)

    def record_coverage(self, record):
        self.coverage = record

    def close(self) -> None:
        self.findings.close()
        self.edits.close()

    def agent(self, prompt, **kwargs):
        self.events.append(("agent", kwargs.get("label") or ""))
        return FakeApi.agent(self.api, prompt, **kwargs)

    def pipeline(self, items, *stages):
        results = []
        for item in items:
            value = item
            for stage in stages:
                value = stage(value)
            results.append(value)
        return results

    def report(self, finding):
        clean = {k: v for k, v in finding.items() if k != "unit"}
        stored, why = self.findings.ingest(clean, run_id=self.run_id, workflow="test", provider="scripted")
        self.events.append(("report", finding.get("title", "")))
        return stored.to_dict() if stored else None

    def propose_edit(self, path, new_text=None, *, old=None, new=None, reason="", reviews=()):
        edit = self.edits.propose(run_id=self.run_id, path=path, new_text=new_text, old_text=old,
                                  replacement=new, reason=reason, reviews=reviews, provider="scripted")
        return edit.to_dict()

    def run(self, name: str, args: dict):
        source = resources.files("refute.orchestration.workflows").joinpath(f"{name}.py").read_text()
        code, problems = compile_script(source, f"<workflow {name}>")
        assert not problems, problems
        api = self.api
        api.agent = self.agent  # refute() calls api.agent: route it through the recorder
        names = {
            "units": lambda scope=None, max_tokens=None, **kinds: file_units(self.workspace),
            # No ledger here: everything is uncovered; sweep() is the real one, over this stand-in.
            "uncovered": list, "dedup": lambda candidate, where: None,
            "sweep": lambda items, find, verify_one, **options: sweep(self, items, find, verify_one, **options),
            "agent": self.agent, "parallel": api.parallel, "pipeline": self.pipeline,
            "report": self.report, "propose_edit": self.propose_edit,
            "locate": functools.partial(locate_quote, self.workspace),
            "phase": self.phases.append, "log": api.log, "args": args, "budget": None,
            "refute": functools.partial(verify.refute, api), "vote": verify.vote,
            "converge": functools.partial(verify.converge, api),
            "SCHEMAS": verify.SCHEMAS, **self.migration.names(),
        }
        from refute.orchestration.runtime.api import script_primitives

        names.update(script_primitives(names))  # the shared steps, built on the names above
        g = make_globals(names, api.log)
        exec(code, g)
        merged = dict(g["meta"]["args"])
        merged.update(args)
        return g["main"](merged)


# --- running a bundled workflow through the engine's run driver ---------------------------

def _reads(request: dict) -> str:
    return f"{request['context']}\n\n{request['prompt']}" if request.get("context") else request["prompt"]


def drive(workspace: Path, name: str, args: dict, responder, *, run_id: str = "run1", units=None, budget=None):
    """Run workflow `name` with RunDriver (sandbox, scheduler, journal, budget) and the
    scripted provider answering `responder(prompt, request_dict)`. Returns (outcome, events)."""
    from refute.orchestration.providers.scripted import ScriptedProvider
    from refute.orchestration.runtime.driver import run_in_process

    # The responder sees what the model reads: the cached prefix (a unit's code) and the prompt.
    provider = ScriptedProvider(function=lambda request: responder(_reads(request), request), workspace=workspace)
    unit_list = units if units is not None else file_units(workspace)
    done = run_in_process(workspace, name, provider, run_id=run_id, args=args, budget=budget,
                          units_fn=lambda scope, max_tokens: unit_list)
    return done.outcome, done.events


def write_sample_repo(root: Path) -> Path:
    """Three small files the workflow tests plant findings in: an off-by-one, a SQL
    injection, and innocent code."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "calc.py").write_text("def total(items):\n    s = 0\n    for i in range(len(items) + 1):\n"
                                  "        s += items[i]\n    return s\n")
    (root / "web.py").write_text("def search(cur, name):\n    cur.execute(\"SELECT * FROM t WHERE n='\" + name + \"'\")\n"
                                 "    return cur.fetchall()\n")
    (root / "io_util.py").write_text("import os\n\ndef here():\n    return os.path.join(os.getcwd(), 'x')\n")
    return root
