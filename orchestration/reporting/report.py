"""Run reports: markdown for people, JSON for tools, SARIF for code scanning.

`Engine.report(run_id, fmt)` gathers the run, its findings, dropped candidates and
proposed edits and calls `render`. Results from the scripted provider and the small local
demo model are labelled as such wherever they appear (providers/base.py DEMO_LABELS), so a
demo is never mistaken for a capable model's judgement.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterable, Sequence

from refute.orchestration.errors import InvalidInput
from refute.orchestration.model import Finding, ProposedEdit, ReviewState, RunInfo
from refute.orchestration.providers.base import DEMO_LABELS
from refute.orchestration.providers.base import provider_label as _label
from refute.orchestration.reporting.migration import is_migration_result, migration_markdown
from refute.orchestration.reporting.sarif import to_sarif

FORMATS = ("md", "json", "sarif")
SKIPPED_SHOWN = 50
SCRIPTED_LABEL = DEMO_LABELS["scripted"]
LOCAL_LABEL = DEMO_LABELS["local"]


def render(findings: Sequence[Finding], run: RunInfo | None, fmt: str = "md", *,
           dropped: Iterable[dict[str, Any]] = (), edits: Iterable[ProposedEdit] = (),
           dismissals: dict[str, dict[str, Any]] | None = None,
           failed_calls: Iterable[dict[str, Any]] = (), skipped: Iterable[dict[str, Any]] = ()) -> str:
    """The report of a run (or of all findings when `run` is None) in `fmt`.
    `failed_calls`: the run's failed agent calls ({label, key, error}), each listed.
    `skipped`: the files of the run's scope nobody looked at, with the reason
    (`files_skipped` events): a binary or 5 MB file must not look audited and clean."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    findings = list(findings)
    dropped = list(dropped)
    edits = list(edits)
    failed_calls = list(failed_calls)
    skipped = list(skipped)
    if fmt == "sarif":
        return json.dumps(to_sarif(findings, run, dismissals=dismissals), indent=2, ensure_ascii=False) + "\n"
    if fmt == "json":
        return json.dumps({
            "run": run.to_dict() if run else None,
            "findings": [f.to_dict() for f in findings],
            "dropped": dropped,
            "edits": [e.to_dict() for e in edits],
            "failed_calls": failed_calls,
            "skipped": skipped,
        }, indent=2, ensure_ascii=False, default=str) + "\n"
    return _markdown(findings, run, dropped, edits, failed_calls, skipped)


def provider_label(provider: str) -> str:
    return _label(provider)


def _markdown(findings: list[Finding], run: RunInfo | None, dropped: list[dict[str, Any]],
              edits: list[ProposedEdit], failed_calls: list[dict[str, Any]] = (),
              skipped: list[dict[str, Any]] = ()) -> str:
    out: list[str] = []
    if run is not None:
        out.append(f"# refute {run.workflow}: run {run.id}")
        out.append("")
        out.append(f"- status: **{run.status}**" + (f" ({run.error})" if run.error else ""))
        out.append(f"- provider: {provider_label(run.provider)}")
        if run.args:
            out.append(f"- args: `{json.dumps(run.args, ensure_ascii=False, sort_keys=True)}`")
        if run.scope.paths:
            out.append(f"- scope: {', '.join(run.scope.paths)}")
        out.append(f"- agent calls: {run.calls_done} done ({run.calls_replayed} replayed from the journal), "
                   f"{run.calls_failed} failed")
        out.append(f"- tokens: {run.usage.total_tokens:,} (input {run.usage.input_tokens:,}, "
                   f"output {run.usage.output_tokens:,}); cost ${run.cost_usd:.4f}")
        if run.calls_failed:
            out.append(f"- **{run.calls_failed} agent call(s) failed**: the results below may be incomplete.")
        if skipped:
            out.append(f"- **{len(skipped)} file(s) skipped** (not looked at): see \"Skipped files\" below.")
        out.append("")
        if is_migration_result(run.result):
            out.extend(migration_markdown(run.result, guide_path=f".refute/state/runs/{run.id}/guide.md"))
        elif run.result not in (None, "", {}, []):
            out.append("## Result")
            out.append("")
            out.append(run.result if isinstance(run.result, str)
                       else "```json\n" + json.dumps(run.result, indent=2, ensure_ascii=False, default=str) + "\n```")
            out.append("")
    else:
        out.append("# refute findings")
        out.append("")

    shown = [f for f in findings if f.review_state != ReviewState.DISMISSED.value]
    dismissed = [f for f in findings if f.review_state == ReviewState.DISMISSED.value]
    if findings or run is None or not run.result:
        out.append(f"## Findings ({len(shown)})")
        out.append("")
        if not shown:
            out.append("No findings.")
            out.append("")
    by_path: dict[str, list[Finding]] = {}
    for finding in shown:
        by_path.setdefault(finding.path, []).append(finding)
    for path in sorted(by_path):
        out.append(f"### {path}")
        out.append("")
        for finding in sorted(by_path[path], key=lambda f: (f.span.start_line, f.span.start_col)):
            out.extend(_finding_md(finding))
    _section(out, "Dismissed", [f"- {f.path}:{f.span.start_line + 1} {f.title} (`{f.fingerprint}`)"
                                for f in dismissed])
    _section(out, "Proposed edits", [line for edit in edits for line in _edit_md(edit)], count=len(edits),
             blank_after=False)
    _section(out, "Failed agent calls", [f"- {c.get('label') or str(c.get('key', ''))[:12]}: {c.get('error', '')}"
                                         for c in failed_calls])
    if dropped:
        kinds = Counter(_reason_kind(d.get("reason", "")) for d in dropped).most_common()
        _section(out, "Dropped by the mechanical check",
                 [f"- {count} x {reason}" for reason, count in kinds] + [""]
                 + [f"- {d.get('path') or '?'}: {d.get('title') or '(untitled)'}: {d.get('reason', '')}"
                    for d in dropped],
                 count=len(dropped), shown=len(kinds) + 1 + 50,
                 intro="Candidates whose path or quote could not be found in the workspace (invented or "
                       "misquoted evidence):")
    _section(out, "Skipped files", [f"- `{e.get('path', '?')}`: {e.get('reason', '')}" for e in skipped],
             shown=SKIPPED_SHOWN, intro="Files in the scope that no agent looked at, and why:")
    return "\n".join(out).rstrip() + "\n"


def _section(out: list[str], title: str, lines: list[str], *, count: int | None = None, shown: int | None = None,
             intro: str = "", blank_after: bool = True) -> None:
    """Append `## title (count)` and its lines (nothing when there are none); past `shown`
    lines the rest is counted and pointed to the JSON report."""
    if not lines:
        return
    count = len(lines) if count is None else count
    out.extend([f"## {title} ({count})", ""] + ([intro, ""] if intro else []))
    out.extend(lines if shown is None else lines[:shown])
    if shown is not None and len(lines) > shown:
        out.append(f"- ... and {len(lines) - shown} more (see `refute report RUN --format json`)")
    if blank_after:
        out.append("")


def skipped_files(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The files a run skipped, from its audit log, once each in the order met."""
    seen: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.get("type") == "files_skipped":
            for entry in event.get("files") or []:
                if isinstance(entry, dict) and entry.get("path") and entry["path"] not in seen:
                    seen[entry["path"]] = {"path": entry["path"], "reason": entry.get("reason", "")}
    return list(seen.values())


def _reason_kind(reason: str) -> str:
    if reason.startswith("quote not found"):
        return "quote not found in the file"
    if reason.startswith("bad path"):
        return "path is not a text file in the workspace"
    return reason or "invalid"


def _finding_md(finding: Finding) -> list[str]:
    line = finding.span.start_line + 1
    votes = Counter(v.verdict for v in finding.verdicts)
    tally = ", ".join(f"{n} {kind}" for kind, n in sorted(votes.items())) or "not cross-checked"
    tags = [finding.severity, finding.category] + ([finding.cwe] if finding.cwe else [])
    if finding.review_state not in (ReviewState.NEW.value, ""):
        tags.append(finding.review_state)
    out = [f"- **{finding.title}** — line {line} [{', '.join(tags)}]",
           f"  - confidence {finding.confidence:.2f}; verdicts: {tally}; provider: {provider_label(finding.provider)}",
           f"  - fingerprint `{finding.fingerprint}`"]
    if finding.explanation:
        out.append(f"  - {finding.explanation.strip()}")
    out.append("")
    out.append(_indent_block(finding.quote, finding.path))
    for verdict in finding.verdicts:
        reason = verdict.reason.strip().replace("\n", " ")
        out.append(f"  - {verdict.verdict}" + (f" ({verdict.agent})" if verdict.agent else "") + f": {reason}")
        if verdict.evidence.strip():
            out.append(f"    evidence: `{_one_line(verdict.evidence)}`")
    if finding.fix is not None:
        out.append("  - suggested fix:")
        out.append(_indent_block(finding.fix.new_text, finding.path))
    out.append("")
    return out


def _edit_md(edit: ProposedEdit) -> list[str]:
    approvals = Counter(r.verdict for r in edit.reviews)
    tally = ", ".join(f"{n} {kind}" for kind, n in sorted(approvals.items())) or "no reviews"
    out = [f"- `{edit.path}` ({edit.state}; reviews: {tally}; provider: {provider_label(edit.provider)}; id `{edit.id}`)"]
    if edit.reason:
        out.append(f"  - {_one_line(edit.reason)}")
    for review in edit.reviews:
        out.append(f"  - review {review.verdict}: {_one_line(review.reason)}")
    out.append("")
    return out


def _one_line(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _indent_block(code: str, path: str) -> str:
    lang = path.rsplit(".", 1)[-1] if "." in path else ""
    fence = "````" if "```" in code else "```"
    body = "\n".join("  " + line for line in code.rstrip("\n").splitlines())
    return f"  {fence}{lang}\n{body}\n  {fence}"
