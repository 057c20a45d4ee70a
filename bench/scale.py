"""Audits that fit real repositories: the bundled audit over real code, run after run.

    .venv/bin/python bench/scale.py [--json] [--corpora stdlib,rich,jsonschema] [--rates 0.5,1,2,4]
                                    [--max-files N] [--max-calls 1000]

For each corpus (the Python standard library and two packages of different sizes from
this venv, copied into a scratch workspace) and each candidate rate, a scripted finder
returns that many candidates per unit on average (each quoting a real line of its unit;
0.5 = one candidate in every other unit) and scripted refuters agree with each other
(no split votes). The bundled audit runs through the run driver (sandbox, scheduler with
the 1,000 paid-call cap, journal, findings store, coverage ledger on disk) and is
continued (`--continue` semantics: same args + skip_covered) until every code unit is
covered. Measured, per corpus and rate:

- no run fails at the cap: every run ends "completed" with at most 1,000 paid calls;
- runs until code-unit coverage is 100%, next to the runs `plan` predicted;
- the plan's expected calls and tokens next to the actual (ratio; target within 25%);
- calls and dollars per 1,000 lines of code (the audited files' lines);
- the share of input tokens read from the prompt cache.

The plan is made with `candidate_rate` set to the finder's nominal rate, as `plan` would
use after one run calibrated it. Audit runs with `mode=units` (the per-unit fan-out whose
code-unit coverage this measures; above 40 files audit's default is per component). `--json` prints one JSON object with the same figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import Any

from refute.analysis.source_kinds import exclusion_reason
from refute.orchestration.runtime import driver as runtime
from refute.orchestration.model import Budget, RunInfo, Scope, Usage
from refute.orchestration.providers.scripted import ScriptedProvider
from refute.orchestration.sandbox.scripts import resolve
from refute.orchestration.settings import EngineSettings
from refute.orchestration.store.coverage import CoverageLedger

RATES = (0.5, 1.0, 2.0, 4.0)
MAX_RUNS = 60


def corpus_paths() -> dict[str, Path]:
    purelib = Path(sysconfig.get_paths()["purelib"])
    return {"stdlib": Path(sysconfig.get_paths()["stdlib"]), "rich": purelib / "rich",
            "jsonschema": purelib / "jsonschema"}


def copy_corpus(name: str, source: Path, target: Path, max_files: int | None) -> None:
    """The corpus's .py files (not site-packages) under target/name, sorted, at most max_files."""
    files = sorted(p for p in source.rglob("*.py")
                   if not {"site-packages", "__pycache__"} & set(p.relative_to(source).parts))
    if max_files:
        files = files[:max_files]
    for path in files:
        dest = target / name / path.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)


def _fraction(*parts: str) -> float:
    return int(hashlib.sha256("\0".join(parts).encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


class ScriptedAudit:
    """Finder: `rate` candidates per unit on average, each quoting a line that occurs once in
    its file, lines spread through the unit. Refuters: both agree (by the quote's hash), so
    every candidate costs exactly two refuter calls."""

    def __init__(self, workspace: Path, rate: float):
        self.workspace = workspace
        self.rate = rate
        self._files: dict[str, list[str]] = {}

    def _unique_lines(self, path: str, text: str) -> list[str]:
        if path not in self._files:
            whole = (self.workspace / path).read_text("utf-8")
            counts: dict[str, int] = {}
            for line in whole.splitlines():
                counts[line.strip()] = counts.get(line.strip(), 0) + 1
            self._files[path] = [k for k, v in counts.items() if v == 1 and len(k) >= 12]
        unique = set(self._files[path])
        return [ln.strip() for ln in text.splitlines() if ln.strip() in unique]

    def __call__(self, request: dict[str, Any]) -> Any:
        if request["role"] == "finder":
            code = request["context"] or ""
            path = code.split('path="', 1)[1].split('"', 1)[0]
            body = code.split("\n", 2)[2] if code.count("\n") >= 2 else code
            count = int(self.rate) + (1 if _fraction(path, body[:200]) < self.rate - int(self.rate) else 0)
            lines = self._unique_lines(path, body)
            if not lines or not count:
                return {"findings": []}
            step = max(len(lines) // count, 1)
            picked = lines[::step][:count]
            return {"findings": [{
                "path": path, "quote": line, "title": f"suspicious statement {i + 1}",
                "explanation": "The value computed here is used later without checking that the earlier step "
                               "succeeded, so a failure there surfaces as a confusing error in this line.",
                "severity": "warning", "category": "bug"} for i, line in enumerate(picked)]}
        claim = request["prompt"]
        confirmed = _fraction(claim.split("Claim to check:", 1)[-1][:400]) < 0.5
        return {"verdict": "confirmed" if confirmed else "refuted",
                "reason": "Read the quoted line and its callers; the described failure does " + ("" if confirmed else "not ")
                          + "happen on the path shown.", "evidence": "see the quoted line"}


def run_once(workspace: Path, settings: EngineSettings, provider: ScriptedProvider, run_id: str,
             args: dict[str, Any]) -> dict[str, Any]:
    source = resolve(workspace, "audit")
    info = RunInfo(id=run_id, workflow="audit", script_hash=source.hash, args=dict(args), scope=Scope(),
                   status="queued", budget=Budget(), provider="scripted")
    driver = runtime.RunDriver(workspace=workspace, settings=settings, run=info, source=source, provider=provider,
                               emit=lambda *a, **k: None)
    try:
        outcome = driver.execute()
        stats = driver.scheduler.stats
        return {"run_id": run_id, "status": outcome.status, "error": outcome.error, "paid_calls": driver.scheduler.stats.paid_calls,
                "replayed": stats.calls_replayed, "usage": stats.usage, "cost_usd": stats.cost_usd,
                "failures": len(driver.scheduler.failures), "result": outcome.result}
    finally:
        driver.close()


def measure(name: str, workspace: Path, rate: float, max_calls: int) -> dict[str, Any]:
    shutil.rmtree(workspace / ".refute", ignore_errors=True)
    settings = EngineSettings(provider="scripted", max_calls=max_calls)
    plan = runtime.plan(workspace=workspace, settings=settings, source=resolve(workspace, "audit"), scope=Scope(),
                        args={"candidate_rate": rate, "mode": "units"}).to_dict()
    expected = plan["forecast"]["cases"]["expected"]
    provider = ScriptedProvider(function=ScriptedAudit(workspace, rate), workspace=workspace)
    runs: list[dict[str, Any]] = []
    usage, cost = Usage(), 0.0
    # Per unit: this bench measures code-unit coverage (above 40 files audit would pick components).
    args: dict[str, Any] = {"candidate_rate": rate, "mode": "units"}
    t0 = time.monotonic()
    while len(runs) < MAX_RUNS:
        run_id = f"{name}-{rate:g}-{len(runs) + 1}"
        done = run_once(workspace, settings, provider, run_id, args)
        runs.append(done)
        usage, cost = usage + done["usage"], cost + done["cost_usd"]
        result = done["result"] if isinstance(done["result"], dict) else {}
        if done["status"] != "completed" or result.get("complete"):
            break
        args = {"candidate_rate": rate, "mode": "units", "skip_covered": True, "continues": run_id}
    elapsed = time.monotonic() - t0
    units = plan["units"]
    ledger = CoverageLedger(workspace / ".refute" / "state")
    try:
        all_units = runtime.analysis_units(workspace, settings)(Scope(code_only=True), settings.max_unit_tokens)
        config = (ledger.run_record(runs[-1]["run_id"]) or {}).get("config", "")
        left = len(ledger.uncovered(config, all_units))
    finally:
        ledger.close()
    lines = sum(len((workspace / p).read_text("utf-8").splitlines())
                for p in {u["path"] for u in all_units})
    paid = sum(r["paid_calls"] for r in runs)
    input_side = usage.input_tokens + usage.cache_write_tokens + usage.cache_read_tokens
    return {
        "corpus": name, "rate": rate, "files": len({u["path"] for u in all_units}), "units": units,
        "lines": lines, "excluded": len(plan["excluded"]),
        "runs": len(runs), "runs_predicted": plan["forecast"]["runs_needed"]["expected"],
        "coverage": round(1 - left / max(len(all_units), 1), 4),
        "all_completed": all(r["status"] == "completed" for r in runs),
        "max_paid_per_run": max(r["paid_calls"] for r in runs), "failed_calls": sum(r["failures"] for r in runs),
        "paid_calls": paid, "plan_calls": expected["calls"], "calls_ratio": round(expected["calls"] / max(paid, 1), 3),
        "tokens": usage.total_tokens, "plan_tokens": expected["tokens"],
        "tokens_ratio": round(expected["tokens"] / max(usage.total_tokens, 1), 3),
        "cost_usd": round(cost, 4), "plan_cost_usd": expected["cost_usd"],
        "calls_per_kloc": round(paid / max(lines, 1) * 1000, 2),
        "usd_per_kloc": round(cost / max(lines, 1) * 1000, 4),
        "cache_read_share": round(usage.cache_read_tokens / max(input_side, 1), 4),
        "candidates": sum((r["result"] or {}).get("candidates", 0) for r in runs if isinstance(r["result"], dict)),
        "seconds": round(elapsed, 1),
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'corpus':<11}{'rate':>5}{'files':>6}{'units':>6}{'kLOC':>7}{'runs':>5}{'pred':>5}{'cov%':>6}"
            f"{'ok':>4}{'max/run':>8}{'calls':>7}{'plan/act':>9}{'tok plan/act':>13}{'calls/kLOC':>11}"
            f"{'$/kLOC':>8}{'cache%':>7}{'s':>6}")
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(f"{r['corpus']:<11}{r['rate']:>5g}{r['files']:>6}{r['units']:>6}{r['lines'] / 1000:>7.1f}"
                   f"{r['runs']:>5}{r['runs_predicted']:>5}{r['coverage'] * 100:>6.1f}"
                   f"{'yes' if r['all_completed'] else 'NO':>4}{r['max_paid_per_run']:>8}{r['paid_calls']:>7}"
                   f"{r['calls_ratio']:>9.2f}{r['tokens_ratio']:>13.2f}{r['calls_per_kloc']:>11.1f}"
                   f"{r['usd_per_kloc']:>8.3f}{r['cache_read_share'] * 100:>7.1f}{r['seconds']:>6.0f}")
    return "\n".join(out)


def run_bench(corpora: list[str], rates: list[float], *, max_files: int | None, max_calls: int,
              workdir: Path | None = None) -> list[dict[str, Any]]:
    sources = corpus_paths()
    rows = []
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        for name in corpora:
            workspace = Path(tmp) / name
            copy_corpus(name, sources[name], workspace, max_files)
            for rate in rates:
                rows.append(measure(name, workspace, rate, max_calls))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="stdlib,rich,jsonschema")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES))
    parser.add_argument("--max-files", type=int, default=None, help="at most this many .py files per corpus")
    parser.add_argument("--max-calls", type=int, default=1000, help="paid calls per run (the cap)")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the same figures")
    args = parser.parse_args(argv)
    known = corpus_paths()
    corpora = [c.strip() for c in args.corpora.split(",") if c.strip()]
    unknown = [c for c in corpora if c not in known]
    if unknown:
        parser.error(f"--corpora: unknown {', '.join(unknown)}; use {', '.join(known)}")
    try:
        rates = [float(r) for r in args.rates.split(",")]
    except ValueError:
        parser.error("--rates: comma-separated numbers, e.g. 0.5,1,2,4")
    rows = run_bench(corpora, rates, max_files=args.max_files, max_calls=args.max_calls)
    if args.json:
        print(json.dumps({"bench": "scale", "max_calls": args.max_calls, "rows": rows}))
    else:
        print(f"bench/scale.py: bundled audit, scripted finder, runs of at most {args.max_calls:,} paid calls\n")
        print(format_table(rows))
        print("\nruns: until code-unit coverage is 100% (pred: the plan's expected runs); ok: every run completed; "
              "plan/act: the plan's expected calls (tokens) over the actual; cache%: input tokens read from cache")
    return 0 if all(r["all_completed"] and r["coverage"] == 1.0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
