"""Does cross-checking pay? Precision, recall and token cost with and without refuters.

A seeded corpus of work units with planted bugs; a scripted finder that reports most
planted bugs plus as many invented ones (precision about 0.5); scripted refuters that
are right 85% of the time, each independently (their answers are derived from a hash of
their own prompt, so two refuters of one claim do not agree by construction). The real
`refute` + `vote` code decides what survives. Printed side by side in the same run:
precision and recall before and after verification, and tokens verified / unverified.

    .venv/bin/python bench/verify.py [--units 200] [--seed 7] [--refuter-accuracy 0.85]

The last block runs the same scripted agents through the engine's run driver and the
scripted provider, with the bundled `audit` workflow doing the work in the sandbox.

Correlated errors (`--correlations 0,0.3,0.6`): real refuters are not independent; they
often share the blind spot that made the finder wrong. Per claim, with probability rho
the whole panel answers with ONE shared coin (right with probability p, as each refuter
alone), otherwise each refuter flips its own. Each refuter stays right 85% of the time,
and the pairwise correlation of two refuters' errors is rho. On a false candidate a
shared wrong coin means every refuter makes the finder's mistake. The table sets the
voting rule (two blind refuters, a third on a split) beside a single refuter at each
rho: expected false-claim survival is rho(1-p) + (1-rho)0.061 against (1-p) = 0.15 for
one refuter, so voting's gain shrinks linearly and vanishes at rho = 1 (at 0.6: 0.114
against 0.15; measured below).

    .venv/bin/python bench/verify.py --json     # one JSON object with the same figures
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from refute.orchestration.verification.verify import SCHEMAS, refute, vote

FINDER_TOKENS = (900, 250)  # (input, output) of one finder call over one unit
REFUTER_TOKENS = (700, 120)  # (input, output) of one refuter call


@dataclass
class Candidate:
    id: str
    path: str
    quote: str
    true_bug: bool


@dataclass
class Corpus:
    """Units (path -> text), planted bugs, and the finder's candidates per unit."""

    files: dict[str, str]
    planted: set[str]  # quotes of planted bugs
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)


def build_corpus(n_units: int = 200, seed: int = 7, finder_recall: float = 0.9,
                 finder_precision: float = 0.5, bug_rate: float = 0.5) -> Corpus:
    rng = random.Random(seed)
    files: dict[str, str] = {}
    planted: set[str] = set()
    candidates: dict[str, list[Candidate]] = {}
    true_found = 0
    for i in range(n_units):
        path = f"pkg/mod_{i:03d}.py"
        lines = [f"def handler_{i}(items, limit):", f"    total_{i} = 0"]
        bug = rng.random() < bug_rate
        bug_quote = f"    for idx_{i} in range(len(items) + 1):"  # planted off-by-one
        if bug:
            lines.append(bug_quote)
            planted.add(bug_quote.strip())
        else:
            lines.append(f"    for idx_{i} in range(len(items)):")
        lines += [f"        total_{i} += items[idx_{i}]", f"    if total_{i} > limit:",
                  f"        return limit", f"    return total_{i}", ""]
        files[path] = "\n".join(lines)
        found: list[Candidate] = []
        if bug and rng.random() < finder_recall:
            found.append(Candidate(f"c{i}t", path, bug_quote.strip(), True))
            true_found += 1
        candidates[path] = found
    # Invented candidates, quoting real (innocent) lines, until precision is as asked.
    false_needed = round(true_found * (1 - finder_precision) / finder_precision)
    paths = sorted(files)
    made = 0
    while made < false_needed:
        path = paths[rng.randrange(len(paths))]
        used = {c.quote for c in candidates[path]}
        innocent = [ln.strip() for ln in files[path].splitlines()
                    if ln.strip() and ln.strip() not in planted and ln.strip() not in used]
        if not innocent:
            continue
        candidates[path].append(Candidate(f"c{made}f", path, rng.choice(innocent), False))
        made += 1
    return Corpus(files, planted, candidates)


def _unit_hash(seed: int, *parts: str) -> float:
    """A deterministic number in [0, 1) from a prompt: the scripted agents' coin."""
    digest = hashlib.sha256(("\x1f".join((str(seed),) + parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class ScriptedAgents:
    """Answers finder and refuter prompts with known error rates."""

    def __init__(self, corpus: Corpus, refuter_accuracy: float = 0.85, seed: int = 7, correlation: float = 0.0):
        self.corpus = corpus
        self.accuracy = refuter_accuracy
        self.seed = seed
        self.correlation = correlation  # probability that a claim's refuters share one coin

    def answer(self, prompt: str, role: str) -> tuple[dict[str, Any], tuple[int, int]]:
        if role == "refuter":
            claim = _claim_in(prompt)
            truth = claim.get("quote", "").strip() in self.corpus.planted
            who = (claim.get("path", ""), claim.get("quote", ""))
            if self.correlation and _unit_hash(self.seed, "shared?", *who) < self.correlation:
                right = _unit_hash(self.seed, "shared coin", *who) < self.accuracy  # the panel's common blind spot
            else:
                right = _unit_hash(self.seed, "refuter", prompt) < self.accuracy
            says_true = truth if right else not truth
            verdict = {"verdict": "confirmed" if says_true else "refuted",
                       "reason": "scripted refuter", "evidence": claim.get("quote", "")}
            return verdict, REFUTER_TOKENS
        path = _path_in(prompt)
        found = [{"path": c.path, "quote": c.quote, "title": f"candidate {c.id}",
                  "explanation": "scripted finder", "severity": "warning", "category": "bug"}
                 for c in self.corpus.candidates.get(path, [])]
        return {"findings": found}, FINDER_TOKENS


def _claim_in(prompt: str) -> dict[str, Any]:
    match = re.search(r"Claim to check:\n(\{.*?\n\})\n", prompt, re.S)
    return json.loads(match.group(1)) if match else {}


def _path_in(prompt: str) -> str:
    match = re.search(r"(pkg/mod_\d+\.py)", prompt)
    return match.group(1) if match else ""


class DirectApi:
    """The parts of the workflow API `refute` uses, answering from ScriptedAgents."""

    def __init__(self, agents: ScriptedAgents):
        self.agents = agents
        self.tokens = {"finder": 0, "refuter": 0}
        self.calls = {"finder": 0, "refuter": 0}
        self.budget = None
        self.messages: list[str] = []

    def agent(self, prompt: str, *, role: str = "default", **_: Any) -> Any:
        data, (tin, tout) = self.agents.answer(prompt, role)
        bucket = "refuter" if role == "refuter" else "finder"
        self.tokens[bucket] += tin + tout
        self.calls[bucket] += 1
        return data

    def parallel(self, thunks: list[Callable[[], Any]]) -> list[Any]:
        return [thunk() for thunk in thunks]

    def log(self, message: str) -> None:
        self.messages.append(message)


def measure(corpus: Corpus, reported: list[tuple[str, str]], candidates: list[tuple[str, str]]) -> dict[str, float]:
    def pr(items: list[tuple[str, str]]) -> tuple[float, float]:
        true = sum(1 for _, quote in items if quote in corpus.planted)
        precision = true / len(items) if items else 1.0
        recall = true / len(corpus.planted) if corpus.planted else 1.0
        return precision, recall

    p0, r0 = pr(candidates)
    p1, r1 = pr(reported)
    return {"precision_before": p0, "recall_before": r0, "precision_after": p1, "recall_after": r1}


# Voting rules compared side by side; "tiebreak" is verify.py's default.
RULES: dict[str, dict[str, Any]] = {
    "tiebreak": {"refute": {}, "vote": {}},  # 2 refuters, a 3rd on a split, majority
    "unanimous": {"refute": {"tiebreak": False}, "vote": {"quorum": 2}},  # both must confirm
    "any": {"refute": {"tiebreak": False}, "vote": {"quorum": 1}},  # one confirmation is enough
    "single": {"refute": {"k": 1, "tiebreak": False}, "vote": {}},  # one refuter decides: no vote at all
}
CORRELATIONS = (0.0, 0.3, 0.6)


def run_direct(n_units: int = 200, seed: int = 7, refuter_accuracy: float = 0.85,
               rule: str = "tiebreak", correlation: float = 0.0) -> dict[str, Any]:
    """Finder + refute + vote over the corpus, calling verify.py directly."""
    options = RULES[rule]
    corpus = build_corpus(n_units, seed)
    api = DirectApi(ScriptedAgents(corpus, refuter_accuracy, seed, correlation))
    candidates: list[tuple[str, str]] = []
    reported: list[tuple[str, str]] = []
    for path in sorted(corpus.files):
        found = api.agent(f"Find bugs in {path}", role="finder", schema=SCHEMAS["findings"])["findings"]
        finder_tokens_only = api.tokens["finder"]
        for raw in found:
            candidates.append((raw["path"], raw["quote"]))
            outcome = vote(refute(api, raw, **options["refute"]), **options["vote"])
            if outcome["verdict"] == "confirmed":
                reported.append((raw["path"], raw["quote"]))
    result = measure(corpus, reported, candidates)
    result.update(
        mode=f"direct, rule {rule}" + (f", correlation {correlation:g}" if correlation else ""), units=n_units,
        rule=rule, correlation=correlation, candidates=len(candidates), reported=len(reported),
        tokens_unverified=finder_tokens_only, tokens_verified=api.tokens["finder"] + api.tokens["refuter"],
        refuter_calls=api.calls["refuter"],
    )
    result["token_ratio"] = result["tokens_verified"] / max(1, result["tokens_unverified"])
    return result


def run_engine(workdir: Path, n_units: int = 200, seed: int = 7, refuter_accuracy: float = 0.85) -> dict[str, Any]:
    """The bundled `audit` workflow, in the sandbox, through the engine's run driver
    (scheduler, journal, budget) with the scripted provider answering as ScriptedAgents."""
    from refute.orchestration.providers.scripted import ScriptedProvider
    from refute.orchestration.runtime.driver import run_in_process, state_dir_of
    from refute.orchestration.verification.findings import FindingsStore

    corpus = build_corpus(n_units, seed)
    workspace = Path(workdir)
    units = []
    for path, text in sorted(corpus.files.items()):
        target = workspace / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        units.append({"id": path, "path": path, "language": "python", "start_line": 0,
                      "end_line": text.count("\n"), "symbol": path.rsplit("/", 1)[-1][:-3], "header": "",
                      "text": text, "content_hash": hashlib.sha256(text.encode()).hexdigest(), "tokens": 0})
    agents = ScriptedAgents(corpus, refuter_accuracy, seed)
    provider = ScriptedProvider(function=lambda request: agents.answer(request["prompt"], request["role"])[0],
                                workspace=workspace)
    # Per unit: the bench's scripted agents answer about one unit (above 40 files audit picks components).
    done = run_in_process(workspace, "audit", provider, run_id=f"bench-{seed}", args={"mode": "units"},
                          units_fn=lambda scope, max_tokens: units)
    if done.outcome.status != "completed":
        raise RuntimeError(f"bench run ended {done.outcome.status}: {done.outcome.error}")
    store = FindingsStore(workspace, state_dir_of(workspace))
    reported = [(f.path, f.quote) for f in store.list(run_id=f"bench-{seed}")]
    store.close()
    return _summary(corpus, reported, [{"type": kind, **fields} for kind, fields in done.events], n_units,
                    "RunDriver in-process: bundled audit in the sandbox, scripted provider")


def _summary(corpus: "Corpus", reported: list[tuple[str, str]], events: list[dict[str, Any]], n_units: int,
             mode: str) -> dict[str, Any]:
    """measure() plus the token and call split between finders and refuters of a run."""
    tokens = {"finder": 0, "refuter": 0}
    calls = {"finder": 0, "refuter": 0}
    for event in events:
        if event.get("type") == "call_finished":
            bucket = "refuter" if str(event.get("label", "")).startswith("refute") else "finder"
            tokens[bucket] += sum(int(v) for v in (event.get("usage") or {}).values())
            calls[bucket] += 1
    candidates = [(c.path, c.quote) for found in corpus.candidates.values() for c in found]
    result = measure(corpus, reported, candidates)
    result.update(mode=mode, units=n_units, candidates=len(candidates), reported=len(reported),
                  tokens_unverified=tokens["finder"], tokens_verified=tokens["finder"] + tokens["refuter"],
                  refuter_calls=calls["refuter"])
    result["token_ratio"] = result["tokens_verified"] / max(1, result["tokens_unverified"])
    return result


_WORKER_AGENTS: dict[tuple[int, int, float], ScriptedAgents] = {}


def engine_answer(request: dict[str, Any]) -> Any:
    """Scripted-provider function for `run_full_engine`: runs in the engine's worker process,
    rebuilding the same seeded corpus from REFUTE_BENCH_{UNITS,SEED,ACCURACY}."""
    import os

    config = (int(os.environ["REFUTE_BENCH_UNITS"]), int(os.environ["REFUTE_BENCH_SEED"]),
              float(os.environ["REFUTE_BENCH_ACCURACY"]))
    if config not in _WORKER_AGENTS:
        _WORKER_AGENTS[config] = ScriptedAgents(build_corpus(config[0], config[1]), config[2], config[1])
    return _WORKER_AGENTS[config].answer(request["prompt"], request["role"])[0]


def run_full_engine(workdir: Path, n_units: int = 200, seed: int = 7, refuter_accuracy: float = 0.85) -> dict[str, Any]:
    """The whole product path: Engine.start (worker process, real tree-sitter work units,
    journal, budget) running the bundled `audit` workflow, then Engine.findings."""
    import os

    from refute.orchestration.engine import Engine
    from refute.orchestration.settings import EngineSettings

    corpus = build_corpus(n_units, seed)
    workspace = Path(workdir)
    for path, text in corpus.files.items():
        (workspace / path).parent.mkdir(parents=True, exist_ok=True)
        (workspace / path).write_text(text)
    bench_env = {"REFUTE_BENCH_UNITS": str(n_units), "REFUTE_BENCH_SEED": str(seed),
                 "REFUTE_BENCH_ACCURACY": str(refuter_accuracy)}
    saved_env = {name: os.environ.get(name) for name in bench_env}
    os.environ.update(bench_env)  # the worker process inherits them
    settings = EngineSettings(provider="scripted", scripted_fixture=f"{Path(__file__).resolve()}:engine_answer")
    engine = Engine(workspace, settings)
    try:
        run_id = engine.start("audit", args={"mode": "units"}, started_by="bench")
        info = engine.wait(run_id, timeout=600)
        if info.status != "completed":
            raise RuntimeError(f"bench run ended {info.status}: {info.error}")
        events = [event.to_dict() for event in engine.events(run_id)]
        reported = [(f.path, f.quote) for f in engine.findings(run_id=run_id)]
    finally:
        engine.close()
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return _summary(corpus, reported, events, n_units, "Engine.start: worker process, tree-sitter units, bundled audit")


def format_result(r: dict[str, Any]) -> str:
    return "\n".join([
        f"verification bench ({r['mode']}): {r['units']} units, {r['candidates']} candidates, "
        f"{r['reported']} reported after verification",
        f"  precision  before {r['precision_before']:.3f}   after {r['precision_after']:.3f}",
        f"  recall     before {r['recall_before']:.3f}   after {r['recall_after']:.3f}   "
        f"(lost {100 * (r['recall_before'] - r['recall_after']):.1f} points)",
        f"  refuter calls per candidate {r['refuter_calls'] / max(1, r['candidates']):.3f}",
        f"  tokens     unverified {r['tokens_unverified']:,}   verified {r['tokens_verified']:,}   "
        f"ratio {r['token_ratio']:.2f}x",
    ])


def correlation_rows(n_units: int = 2000, seed: int = 3, refuter_accuracy: float = 0.85,
                     correlations: tuple[float, ...] = CORRELATIONS) -> list[dict[str, Any]]:
    """Per correlation: the voting rule and a single refuter on the same claims, side by side."""
    rows = []
    for rho in correlations:
        vote_result = run_direct(n_units, seed, refuter_accuracy, "tiebreak", rho)
        single = run_direct(n_units, seed, refuter_accuracy, "single", rho)
        false_before = vote_result["candidates"] * (1 - vote_result["precision_before"])
        rows.append({
            "correlation": rho,
            "precision_before": vote_result["precision_before"], "recall_before": vote_result["recall_before"],
            "vote_precision": vote_result["precision_after"], "vote_recall": vote_result["recall_after"],
            "single_precision": single["precision_after"], "single_recall": single["recall_after"],
            "vote_false_survival": _false_kept(vote_result) / max(1.0, false_before),
            "single_false_survival": _false_kept(single) / max(1.0, false_before),
            "vote_gain_precision": vote_result["precision_after"] - single["precision_after"],
            "vote_gain_recall": vote_result["recall_after"] - single["recall_after"],
            "vote_refuter_calls_per_claim": vote_result["refuter_calls"] / max(1, vote_result["candidates"]),
            "expected_vote_false_survival": rho * (1 - refuter_accuracy) + (1 - rho) * _indep_false(refuter_accuracy),
        })
    return rows


def _indep_false(p: float) -> float:
    """P(a false claim survives two blind refuters plus a tie-break), independent errors."""
    q = 1 - p
    return q * q + 2 * p * q * q


def _false_kept(result: dict[str, Any]) -> float:
    return result["reported"] * (1 - result["precision_after"])


def format_correlation(rows: list[dict[str, Any]], units: int) -> str:
    lines = [f"correlated errors ({units} units; refuters each right 85% of the time; rho = how often a claim's "
             "refuters share one blind spot)",
             f"{'rho':>4} | {'precision before':>16} | {'vote: precision':>15} {'recall':>7} {'false kept':>10} "
             f"{'calls/claim':>11} | {'one refuter: precision':>22} {'recall':>7} {'false kept':>10} | "
             f"{'voting gain (precision)':>23}"]
    lines.append("-" * len(lines[1]))
    for r in rows:
        lines.append(f"{r['correlation']:>4.1f} | {r['precision_before']:>16.3f} | {r['vote_precision']:>15.3f} "
                     f"{r['vote_recall']:>7.3f} {r['vote_false_survival']:>10.3f} {r['vote_refuter_calls_per_claim']:>11.2f} | "
                     f"{r['single_precision']:>22.3f} {r['single_recall']:>7.3f} {r['single_false_survival']:>10.3f} | "
                     f"{r['vote_gain_precision']:>+23.3f}")
    lines.append("false kept = share of the finder's false candidates that survive; expected for the vote: "
                 + ", ".join(f"{r['expected_vote_false_survival']:.3f} at rho {r['correlation']:g}" for r in rows))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--refuter-accuracy", type=float, default=0.85)
    parser.add_argument("--correlation-units", type=int, default=2000,
                        help="units of the correlated-errors table (more units, less sampling noise)")
    parser.add_argument("--correlations", default="0,0.3,0.6", help="comma-separated rho values")
    parser.add_argument("--json", action="store_true", help="print one JSON object with the same figures")
    args = parser.parse_args(argv)
    try:
        correlations = tuple(float(x) for x in args.correlations.split(","))
    except ValueError:
        parser.error(f"--correlations {args.correlations!r}: comma-separated numbers such as 0,0.3,0.6")
    if any(not 0 <= rho <= 1 for rho in correlations):
        parser.error("--correlations: each value between 0 and 1")
    results = [run_direct(args.units, args.seed, args.refuter_accuracy, rule) for rule in RULES]
    with tempfile.TemporaryDirectory(prefix="refute-bench-") as workdir:
        results.append(run_engine(Path(workdir) / "driver", args.units, args.seed, args.refuter_accuracy))
        results.append(run_full_engine(Path(workdir) / "engine", args.units, args.seed, args.refuter_accuracy))
    rows = correlation_rows(args.correlation_units, 3, args.refuter_accuracy, correlations)
    if args.json:
        print(json.dumps({"runs": results, "correlated_errors": rows}, indent=2))
        return 0
    for result in results:
        print(format_result(result))
    print(format_correlation(rows, args.correlation_units))
    return 0


if __name__ == "__main__":
    sys.exit(main())
