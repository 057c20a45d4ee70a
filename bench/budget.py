"""Do budgets hold at real scale? A scripted audit of a real package, stopped by budgets.

A find -> verify workflow (PROBE_WORKFLOW below: the pre-capacity audit, so the budget\nalone stops it) runs in the sandbox through the engine's run driver, the
scheduler, the budget ledger and the journal, over a copy of a real package from the
venv (default: the installed `anthropic/lib`, 480 work units). The scripted provider
answers (no model is called): the finder reports one candidate for one unit in eight
(quoting the unit's last line, so it anchors), refuters confirm or refute it from a
hash of the claim. Usage is the scripted provider's estimate from the text, so a
finder's worst case (input + max_tokens 4,096) is several times what it uses, as with
a real model.

First the whole audit runs without a budget (its tokens and dollars are 100%). Then,
for token and for dollar budgets of 10%, 50% and 90% of that, in a fresh state:
- the run must end `budget_reached` with spent <= budget (the hard invariant) and at
  least 85% of the budget spent (before issue 12 a budget ten times a run's size failed
  after a few percent);
- `resume` with a larger budget must complete, and no call may be paid twice (the keys
  paid before and after the resume are disjoint; together they are the full run's).

    .venv/bin/python bench/budget.py [--package PATH] [--shares 0.1,0.5,0.9] [--json]

`--provider anthropic` runs the same audit through the real Anthropic SDK against the
loopback Messages API (tests/fakes/messages_api.py, which counts 4 characters a token),
twice: reserving each call's input by the fixed upper estimate (3 bytes a token) and by
the estimate calibrated against the counted usage (providers/reservation.py,
InputCalibration, learnt during the unbudgeted run). The share of the budget spent
before the run stops shows what the calibration buys. (The scripted provider reserves
its own exact count, the ideal the calibration approaches.)

    .venv/bin/python bench/budget.py --provider anthropic

`--json` prints ONE JSON object with the same figures as the table.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fakes (--provider anthropic)

from bench._report import finish  # noqa: E402

from refute.orchestration.model import Budget, RunInfo, Scope
from refute.orchestration.providers.reservation import InputCalibration
from refute.orchestration.providers.scripted import ScriptedProvider
from refute.orchestration.runtime.driver import RunDriver
from refute.orchestration.sandbox.scripts import resolve
from refute.orchestration.settings import EngineSettings

FINDING_EVERY = 8  # one unit in eight gets a candidate finding
MIN_SPENT_SHARE = 0.85
_CODE = re.compile(r'<code path="([^"]+)" lines="(\d+)-(\d+)"[^>]*>\n(.*?)\n</code>', re.S)


# The budget alone must stop this run: a find -> verify pipeline with no capacity gate (the
# bundled audit's sweep stops its finders early on purpose, calls/capacity.py, which would
# measure the gate, not the budget). Function-sized units, as the budget issue measured.
PROBE_NAME = "budget_probe"
PROBE_UNIT_TOKENS = 1500
PROBE_WORKFLOW = '''meta = {"name": "budget_probe", "description": "find then verify per unit, no capacity gate",
        "phases": [], "args": {}}

def main(args):
    def find(unit):
        answer = agent("Find bugs in this code.", unit=unit, schema=SCHEMAS["findings"], role="finder",
                       label="audit:find " + unit["path"])
        return {"unit": unit, "candidates": answer["findings"]}

    def verify(found):
        kept = 0
        for candidate in found["candidates"]:
            if locate(candidate["path"], candidate["quote"]) is None:
                continue
            claim = dict(candidate)
            claim["unit"] = found["unit"]
            if vote(refute(claim, k=2))["verdict"] == "confirmed":
                kept = kept + 1
        return kept

    return sum(k for k in pipeline(units(), find, verify) if k)
'''


def default_package() -> Path:
    return Path(sysconfig.get_paths()["purelib"]) / "anthropic" / "lib"


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def answer(request: dict[str, Any]) -> Any:
    """Scripted answers for the audit: finder candidates and refuter verdicts."""
    prompt = request["prompt"]
    if request["role"] == "finder":
        match = _CODE.search((request.get("context") or "") + "\n" + prompt)  # unit code is in the cached prefix
        if not match or _hash(match.group(1) + match.group(2)) % FINDING_EVERY:
            return {"findings": []}
        path, code = match.group(1), match.group(4)
        # The unit's last code line (its context header comes first and is not in the file).
        last = next((line for line in reversed(code.splitlines()) if line.strip() and not line.startswith("#")), None)
        if last is None:
            return {"findings": []}
        return {"findings": [{"path": path, "quote": last.strip(), "title": "possible bug",
                              "explanation": "scripted candidate for the budget benchmark", "severity": "warning",
                              "category": "bug"}]}
    claim = prompt.split("Claim to check:", 1)[-1].split("Reply with", 1)[0]
    verdict = "confirmed" if _hash(claim) % 2 else "refuted"
    return {"verdict": verdict, "reason": "scripted", "evidence": ""}


class _Fake:
    """The loopback Messages API answering as `answer` does (--provider anthropic)."""

    def __init__(self) -> None:
        from tests.fakes.messages_api import TEST_API_KEY, FakeMessagesAPI, json_reply

        self._reply = json_reply
        self.api = FakeMessagesAPI(responder=self._respond).start()
        os.environ["ANTHROPIC_API_KEY"] = TEST_API_KEY

    def _respond(self, call: Any) -> Any:
        blocks = [b for m in call.params["messages"] for b in (m["content"] if isinstance(m["content"], list)
                                                                else [{"type": "text", "text": m["content"]}])]
        text = "\n".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        role = "refuter" if "Claim to check:" in text else "finder"
        return self._reply(answer({"role": role, "prompt": text, "context": ""}))

    def restart(self) -> None:
        from tests.fakes.messages_api import FakeMessagesAPI

        self.api.stop()
        self.api = FakeMessagesAPI(responder=self._respond).start()

    def close(self) -> None:
        self.api.stop()


def _measured_provider(settings: EngineSettings, workspace: Path) -> Any:
    """The Anthropic provider, adding up the input it reserved and the input the API counted."""
    from refute.orchestration.providers.anthropic import AnthropicProvider

    class Measured(AnthropicProvider):
        reserved_input = counted_input = 0
        _tally = threading.Lock()

        def call(self, request: Any, ctx: Any) -> Any:
            reserved = self._first_input_tokens(request)
            result = super().call(request, ctx)
            u = result.usage
            with self._tally:
                self.reserved_input += reserved
                self.counted_input += u.input_tokens + u.cache_write_tokens + u.cache_read_tokens
            return result

    return Measured(settings, workspace)


class _Run:
    """One run of the audit in-process, recording which journal keys were paid. With
    `fake` the Anthropic provider calls the loopback API, reserving input by `calibration`."""

    def __init__(self, workspace: Path, run_id: str, budget: Budget, *, spent: tuple[int, float] = (0, 0.0),
                 counted: set[str] | None = None, fake: _Fake | None = None,
                 calibration: InputCalibration | None = None):
        self.paid: list[str] = []
        settings = EngineSettings(provider="anthropic" if fake else "scripted", max_concurrency=16,
                                  max_unit_tokens=PROBE_UNIT_TOKENS, anthropic_base_url=fake.api.url if fake else None)
        if fake is not None:
            provider: Any = _measured_provider(settings, workspace)
            if calibration is not None:
                provider.calibration = calibration
        else:
            provider = ScriptedProvider(function=answer, workspace=workspace)
        source = resolve(workspace, PROBE_NAME)
        run = RunInfo(id=run_id, workflow=PROBE_NAME, script_hash=source.hash, args={}, scope=Scope(),
                      status="queued", budget=budget, provider=provider.name)
        self.driver = RunDriver(workspace=workspace, settings=settings, run=run, source=source,
                                provider=provider, emit=self._on_event,
                                spent_tokens=spent[0], spent_usd=spent[1], counted_keys=counted)

    def _on_event(self, type_: str, **fields: Any) -> None:
        if type_ == "call_finished" and not fields.get("replayed") and not fields.get("recovered"):
            self.paid.append(fields["key"])

    def execute(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        outcome = self.driver.execute()
        ledger = self.driver.ledger
        out = {"status": outcome.status, "error": outcome.error, "seconds": round(time.perf_counter() - t0, 2),
               "spent_tokens": ledger.spent_tokens, "spent_usd": round(ledger.spent_usd, 6),
               "paid_calls": len(self.paid), "failed_calls": len(outcome.failures)}
        provider = self.driver.provider
        if hasattr(provider, "counted_input"):  # reserved / counted input of the paid first requests
            out["input_reserved_per_counted"] = round(provider.reserved_input / max(provider.counted_input, 1), 3)
        self.driver.close()
        return out


def _fresh_state(workspace: Path) -> None:
    shutil.rmtree(workspace / ".refute" / "state", ignore_errors=True)


def measure(package: Path, shares: list[float], provider: str = "scripted") -> dict[str, Any]:
    fake = _Fake() if provider == "anthropic" else None
    try:
        with tempfile.TemporaryDirectory(prefix="refute-bench-budget-") as tmp:
            workspace = Path(tmp) / package.name
            shutil.copytree(package, workspace, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            probe = workspace / ".refute" / "workflows" / f"{PROBE_NAME}.py"
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_text(PROBE_WORKFLOW)
            learnt = InputCalibration(None)  # learnt during the unbudgeted run (anthropic only)
            full_run = _Run(workspace, "full", Budget(), fake=fake, calibration=learnt)
            full = full_run.execute()
            units = len(full_run.driver.units_fn(Scope(), PROBE_UNIT_TOKENS))
            if full["status"] != "completed":
                raise SystemExit(f"the unbudgeted audit did not complete: {full['error']}")
            modes = {"upper": InputCalibration(None, learn=False), "calibrated": learnt} if fake else {"exact": None}
            rows = [row for reserve, calibration in modes.items()
                    for row in _budget_rows(workspace, full, set(full_run.paid), shares, reserve, fake, calibration)]
    finally:
        if fake is not None:
            fake.close()
    ok = all(r["within"] and r["status"] == "budget_reached" and (r["spent_share"] or 0) >= MIN_SPENT_SHARE
             and r["resume_status"] == "completed" and r["paid_twice"] == 0 and r["all_calls_paid_once"]
             for r in rows)
    return {"package": str(package), "provider": provider, "units": units, "full_run": full,
            "min_spent_share": MIN_SPENT_SHARE, "rows": rows, "ok": ok}


def _budget_rows(workspace: Path, full: dict[str, Any], full_keys: set[str], shares: list[float], reserve: str,
                 fake: _Fake | None, calibration: InputCalibration | None) -> list[dict[str, Any]]:
    rows = []
    for kind in ("tokens", "usd"):
        total = full["spent_tokens"] if kind == "tokens" else full["spent_usd"]
        for share in shares:
            _fresh_state(workspace)
            limit = int(total * share) if kind == "tokens" else round(total * share, 6)
            budget = Budget(tokens=limit) if kind == "tokens" else Budget(usd=limit)
            if fake is not None:
                fake.restart()  # an empty prompt cache, as for the full run: the same prices
            first_run = _Run(workspace, f"{kind}-{share}", budget, fake=fake, calibration=calibration)
            first = first_run.execute()
            spent = first["spent_tokens"] if kind == "tokens" else first["spent_usd"]
            resumed_run = _Run(workspace, f"{kind}-{share}", Budget(), counted=set(first_run.paid),
                               spent=(first["spent_tokens"], first["spent_usd"]), fake=fake, calibration=calibration)
            resumed = resumed_run.execute()
            twice = len(set(first_run.paid) & set(resumed_run.paid))
            rows.append({
                "reserve": reserve, "budget": kind, "share": share, "limit": limit, "spent": spent,
                "input_reserved_per_counted": first.get("input_reserved_per_counted"),
                "spent_share": round(spent / limit, 4) if limit else None,
                "status": first["status"], "paid_calls": first["paid_calls"],
                "within": spent <= limit + 1e-9,
                "resume_status": resumed["status"], "resume_paid_calls": resumed["paid_calls"],
                "paid_twice": twice,
                "all_calls_paid_once": (set(first_run.paid) | set(resumed_run.paid)) == full_keys,
            })
    return rows


def print_table(result: dict[str, Any]) -> None:
    full = result["full_run"]
    print(f"package {result['package']}: {result['units']} units; full audit ({result['provider']}) "
          f"{full['paid_calls']} calls, {full['spent_tokens']:,} tokens, ${full['spent_usd']:.4f} ({full['seconds']} s)")
    header = (f"{'reserve':<11}{'budget':<7}{'share':>6}{'limit':>12}{'spent':>12}{'spent/limit':>12}  {'status':<15}"
              f"{'calls':>6}  {'resume':<10}{'calls':>6}{'paid twice':>11}{'input reserved/counted':>24}")
    print(header)
    print("-" * len(header))
    for r in result["rows"]:
        fmt = (lambda v: f"{v:,}") if r["budget"] == "tokens" else (lambda v: f"${v:.4f}")
        print(f"{r['reserve']:<11}{r['budget']:<7}{r['share']:>6.0%}{fmt(r['limit']):>12}{fmt(r['spent']):>12}"
              f"{r['spent_share']:>12.1%}  {r['status']:<15}{r['paid_calls']:>6}  {r['resume_status']:<10}"
              f"{r['resume_paid_calls']:>6}{r['paid_twice']:>11}"
              f"{'-' if r['input_reserved_per_counted'] is None else r['input_reserved_per_counted']:>24}")
    print(f"every budget held, >= {result['min_spent_share']:.0%} spent, resumed with 0 calls paid twice: "
          f"{'yes' if result['ok'] else 'NO'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", type=Path, default=None, help="folder of source to audit (default: anthropic/lib)")
    parser.add_argument("--shares", default="0.1,0.5,0.9", help="budget shares of the full run, comma-separated")
    parser.add_argument("--provider", choices=("scripted", "anthropic"), default="scripted",
                        help="anthropic: the real SDK against the loopback Messages API, upper vs calibrated input")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    opts = parser.parse_args(argv)
    package = (opts.package or default_package()).resolve()
    if not package.is_dir():
        parser.error(f"--package: {package} is not a folder")
    try:
        shares = [float(s) for s in opts.shares.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--shares: expected numbers like 0.1,0.5,0.9, got {opts.shares!r}")
    if not shares or not all(0 < s < 1 for s in shares):
        parser.error("--shares: each share must be between 0 and 1")
    result = measure(package, shares, opts.provider)
    return finish(result, opts.json, print_table)


if __name__ == "__main__":
    sys.exit(main())
