"""The eval harness: a workflow over a corpus through the normal Engine, scored before and
after verification, with what it cost.

Flow (server/commands/eval.py drives it; the language server could too):
1. `prepare_workspace` copies the corpus into an eval workspace (by default
   `.refute/eval/NAME-HASH/` of the caller's workspace) WITHOUT `Corpus.hidden` (the truth
   file, other tools' SARIF, the corpus's notes): the truth never reaches a model, and
   the shared corpus is never written to. Files are rewritten only when their bytes
   differ, so the same eval asks byte-identical questions and replays from the journal.
2. `Engine.plan` first (the estimate is shown before anything is paid), then
   `Engine.start(workflow, scope=the sampled cases' files)`: budgets, the journal,
   pause/resume and the 1,000-call cap all apply as in `refute run`.
3. `collect` reads the run back from its audit log (events.jsonl) and the journal:
   - before verification: every candidate in the answer of a call made with
     role="finder" (the finders' raw answers, journal entries of the run's
     `call_finished` events), invented quotes included;
   - after: every `finding` event (what survived refuters, vote and the quote check);
   - cost: each call's usage and dollars as the journal recorded them when it was paid,
     so a resumed or replayed eval still shows what the configuration costs. Calls made
     with role="refuter" are verification; everything else (threat model, finders) is
     the cost of finding. "Paid this time" is the run's own figure (replays are free).
4. `score` (scoring.py) per case and per category, before and after; the corpus's
   shipped SARIF and any `--compare` SARIF are scored on the same cases beside it.

Measured here (2 shared cores, scripted auditor of tests/unit/evaluation, no model): a
28-case stratified OWASP sample is 121 calls (29 finding, 92 verification) and takes
5.6 s wall, plan included; a 250-case sample reaches the 1,000-call cap with finders done
for 231 files (51 cases marked incomplete), in 11 s.

A run that ended with failed calls is scored as it is (a failed finder call is a missed
case), and the result says so in `run.status` / `run.error`: never silently.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from refute.analysis.anchor import anchor_quote
from refute.orchestration.evaluation.corpus import Case, Corpus
from refute.orchestration.providers.base import provider_label
from refute.orchestration.evaluation.sarif_input import read_sarif
from refute.orchestration.evaluation.scoring import Flag, Score, score

SKIP_DIRS = {".git", ".refute", "__pycache__", ".hg", ".svn"}
VERIFICATION_ROLES = {"refuter"}
FINDER_ROLE = "finder"


def default_workdir(workspace: Path, corpus: Corpus) -> Path:
    tag = hashlib.sha256(str(corpus.root).encode()).hexdigest()[:8]
    return Path(workspace).resolve() / ".refute" / "eval" / f"{corpus.name}-{tag}"


def prepare_workspace(corpus: Corpus, workdir: Path) -> Path:
    """Copy the corpus (minus hidden files) into `workdir`; returns it. Idempotent."""
    workdir = Path(workdir).resolve()
    state = corpus.root / ".refute"
    if workdir == corpus.root or (corpus.root in workdir.parents and state not in workdir.parents):
        raise ValueError(f"the eval workspace {workdir} is inside the corpus {corpus.root}: choose another "
                         "--workdir (only the corpus's own .refute/ may hold it; corpus files are never written)")
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"cannot create the eval workspace {workdir} ({exc.strerror}): choose another --workdir") \
            from None
    for source in sorted(corpus.root.rglob("*")):
        rel = source.relative_to(corpus.root)
        if any(part in SKIP_DIRS for part in rel.parts) or rel.as_posix() in corpus.hidden:
            continue
        if source.is_symlink() or not source.is_file():
            continue
        target = workdir / rel
        data = source.read_bytes()
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return workdir


def install_workflow(workdir: Path, name: str, source_text: str) -> None:
    """A workspace's own workflow (`.refute/workflows/NAME.py` or a file) evaluated as it is."""
    folder = Path(workdir) / ".refute" / "workflows"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    if not path.is_file() or path.read_text("utf-8") != source_text:
        path.write_text(source_text, encoding="utf-8")


@dataclass
class Spend:
    calls: int = 0
    tokens: int = 0
    usd: float = 0.0

    def add(self, tokens: int, usd: float) -> None:
        self.calls += 1
        self.tokens += tokens
        self.usd += usd

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "tokens": self.tokens, "usd": round(self.usd, 6)}


@dataclass
class RunEvidence:
    candidates: list[Flag]  # finders' raw candidates (before verification)
    survivors: list[Flag]  # reported findings (after)
    finding_spend: Spend  # threat model + finders (every non-refuter call)
    verification_spend: Spend  # refuters
    dropped: int  # candidates the quote check dropped (finding_dropped events)
    finder_calls_without_answer: int = 0  # call_finished events whose journal entry is missing
    finder_answers: int = 0  # finished finder calls (one per unit examined)
    failed_labels: list[str] = field(default_factory=list)  # labels of the run's failed calls

    def incomplete(self, path: str) -> bool:
        """Whether a failed call concerned this file (its label names it, as the bundled
        workflows' and refute()'s labels do): the case's numbers may miss an answer."""
        return any(path in label for label in self.failed_labels)

    @property
    def total(self) -> Spend:
        f, v = self.finding_spend, self.verification_spend
        return Spend(f.calls + v.calls, f.tokens + v.tokens, f.usd + v.usd)


def collect(events: Iterable[dict[str, Any]], journal: Any, workdir: Path) -> RunEvidence:
    """Raw candidates, survivors and cost of one run, from its events and the journal."""
    texts: dict[str, str | None] = {}
    candidates: list[Flag] = []
    survivors: list[Flag] = []
    finding, verification = Spend(), Spend()
    seen: set[str] = set()
    dropped = missing = finder_answers = 0
    failed_labels: list[str] = []
    for event in events:
        kind = event.get("type")
        if kind == "call_failed":
            failed_labels.append(str(event.get("label") or ""))
        elif kind == "finding_dropped":
            dropped += 1
        elif kind == "finding":
            data = event.get("finding") or {}
            span = data.get("span") or {}
            start = span.get("start_line")
            end = span.get("end_line", start)
            survivors.append(Flag.make(data.get("path", ""), data.get("cwe"),
                                       None if start is None else int(start) + 1,
                                       None if end is None else int(end) + 1))
        elif kind == "call_finished":
            key = event.get("key")
            if not key or key in seen:
                continue
            seen.add(key)
            entry = journal.entry(key)
            if entry is None:
                missing += 1
                continue
            result = entry.get("result") or {}
            usage = result.get("usage") or {}
            tokens = sum(int(v or 0) for v in usage.values())
            bucket = verification if entry.get("role") in VERIFICATION_ROLES else finding
            bucket.add(tokens, float(result.get("cost_usd") or 0.0))
            if entry.get("role") == FINDER_ROLE:
                finder_answers += 1
                candidates.extend(_candidate_flags(result.get("data"), workdir, texts))
    return RunEvidence(candidates, survivors, finding, verification, dropped, missing, finder_answers,
                       failed_labels)


def _candidate_flags(data: Any, workdir: Path, texts: dict[str, str | None]) -> list[Flag]:
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        return []
    out = []
    for item in data["findings"]:
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            continue
        path = item["path"].replace("\\", "/").removeprefix("./")
        start = end = None
        text = _text(workdir, path, texts)
        quote = item.get("quote")
        if text is not None and isinstance(quote, str):
            span = anchor_quote(text, quote)
            if span is not None:
                start, end = span.start_line + 1, span.end_line + 1
        out.append(Flag.make(path, item.get("cwe"), start, end))
    return out


def _text(workdir: Path, rel: str, cache: dict[str, str | None]) -> str | None:
    if rel not in cache:
        try:
            target = (workdir / rel).resolve()
            target.relative_to(Path(workdir).resolve())
            cache[rel] = target.read_text("utf-8")
        except (OSError, ValueError, UnicodeDecodeError):
            cache[rel] = None
    return cache[rel]


@dataclass
class Comparison:
    tool: str
    source: str
    score: Score

    def to_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "sarif": self.source, **self.score.to_dict(with_cases=False)}


def compare_sarif(paths: Iterable[Path], corpus: Corpus, cases: list[Case]) -> list[Comparison]:
    out = []
    for path in paths:
        flags, tool = read_sarif(path, corpus.root)
        out.append(Comparison(tool, str(path), score(cases, flags)))
    return out


def shipped_sarif(corpus: Corpus) -> list[Path]:
    """Other tools' SARIF that ships with the corpus (OWASP: results/*.sarif)."""
    return sorted(corpus.root / rel for rel in corpus.hidden if rel.endswith(".sarif"))


@dataclass
class EvalResult:
    corpus: Corpus
    cases: list[Case]
    sample: dict[str, Any]
    workflow: str
    provider: str
    run: dict[str, Any]
    before: Score
    after: Score
    evidence: RunEvidence
    plan: dict[str, Any] | None = None
    comparisons: list[Comparison] = field(default_factory=list)

    def cost(self) -> dict[str, Any]:
        tp_before, tp_after = self.before.overall["tp"], self.after.overall["tp"]
        find, total = self.evidence.finding_spend, self.evidence.total

        def per(spend: Spend, tp: int) -> dict[str, Any] | None:
            if not tp:
                return None
            return {"calls": round(spend.calls / tp, 3), "tokens": round(spend.tokens / tp, 1),
                    "usd": round(spend.usd / tp, 6)}

        return {"finding": find.to_dict(), "verification": self.evidence.verification_spend.to_dict(),
                "total": total.to_dict(), "per_true_positive_before": per(find, tp_before),
                "per_true_positive_after": per(total, tp_after),
                "paid_this_run": {"calls": self.run.get("calls_done", 0) - self.run.get("calls_replayed", 0),
                                  "tokens": self.run.get("tokens", 0), "usd": self.run.get("cost_usd", 0.0)}}

    def to_dict(self) -> dict[str, Any]:
        before = {c.case.id: c for c in self.before.cases}
        cases = [{**c.to_dict(), "before": before[c.case.id].outcome, "after": c.outcome,
                  "hits_before": len(before[c.case.id].hits), "hits_after": len(c.hits),
                  "incomplete": self.evidence.incomplete(c.case.path)} for c in self.after.cases]
        for case in cases:
            case.pop("outcome"), case.pop("hits"), case.pop("flagged")
        return {
            "corpus": {"name": self.corpus.name, "kind": self.corpus.kind, "root": str(self.corpus.root),
                       "cases": len(self.corpus.cases)},
            "sample": self.sample, "workflow": self.workflow, "provider": self.provider,
            "provider_label": provider_label(self.provider), "run": self.run,
            "plan": self.plan,
            "before": self.before.to_dict(with_cases=False), "after": self.after.to_dict(with_cases=False),
            "candidates": len(self.evidence.candidates), "survivors": len(self.evidence.survivors),
            "finder_answers": self.evidence.finder_answers,
            "incomplete_cases": sum(1 for c in cases if c["incomplete"]),
            "dropped_by_quote_check": self.evidence.dropped, "cost": self.cost(),
            "comparisons": [c.to_dict() for c in self.comparisons], "cases": cases,
        }


def run_summary(info: Any) -> dict[str, Any]:
    return {"id": info.id, "status": info.status.value, "error": info.error, "calls_done": info.calls_done,
            "calls_failed": info.calls_failed, "calls_replayed": info.calls_replayed,
            "tokens": info.usage.total_tokens, "cost_usd": round(info.cost_usd, 6), "provider": info.provider}


def evaluate(engine: Any, corpus: Corpus, cases: list[Case], run_id: str, *, workflow: str,
             sample: dict[str, Any], plan: dict[str, Any] | None = None,
             compare: Iterable[Path] = ()) -> EvalResult:
    """Score a finished (or stopped) eval run of `engine` (whose workspace is the eval copy)."""
    from refute.orchestration.store.journal import Journal

    info = engine.run(run_id)
    journal = Journal(engine.state_dir)
    try:
        evidence = collect((e.to_dict() for e in engine.events(run_id)), journal, engine.workspace)
    finally:
        journal.close()
    return EvalResult(corpus=corpus, cases=cases, sample=sample, workflow=workflow, provider=info.provider,
                      run=run_summary(info), before=score(cases, evidence.candidates),
                      after=score(cases, evidence.survivors), evidence=evidence, plan=plan,
                      comparisons=compare_sarif(compare, corpus, cases))


def sample_summary(corpus: Corpus, cases: list[Case], n: int | None, seed: int) -> dict[str, Any]:
    by_category: dict[str, dict[str, int]] = {}
    for case in cases:
        row = by_category.setdefault(case.category, {"vulnerable": 0, "safe": 0})
        row["vulnerable" if case.vulnerable else "safe"] += 1
    return {"requested": n, "seed": seed, "cases": len(cases), "of": len(corpus.cases),
            "files": len({c.path for c in cases}), "by_category": dict(sorted(by_category.items()))}


__all__ = ["prepare_workspace", "default_workdir", "install_workflow", "collect", "evaluate", "EvalResult",
           "RunEvidence", "compare_sarif", "shipped_sarif", "sample_summary", "Comparison"]
