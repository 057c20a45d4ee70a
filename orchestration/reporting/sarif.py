"""SARIF 2.1.0 export, shaped for GitHub code scanning.

One rule per (category, CWE) pair; one result per finding with a 1-based region, the
finding's fingerprint as a partial fingerprint (so code scanning tracks it across runs),
and dismissed findings carried as results with an external, accepted suppression (so a
team's triage shows up as "dismissed" rather than disappearing). Stale findings (their
quote is no longer in the file) have no valid location and are left out; the run's
properties count them.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, Iterable
from urllib.parse import quote as uri_quote

from refute.orchestration.model import Finding, ReviewState, RunInfo, RunStatus
from refute.orchestration.providers.base import DEMO_LABELS

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION = "2.1.0"
TOOL_NAME = "refute"
FALLBACK_URI = "https://pypi.org/project/refute/"
FINGERPRINT_KEY = "refuteFingerprint/v1"

_LEVELS = {"error": "error", "warning": "warning", "info": "note", "hint": "note"}
# GitHub ranks security alerts by this 0-10 score (critical >= 9, high >= 7, medium >= 4).
_SECURITY_SEVERITY = {"error": "8.0", "warning": "5.5", "info": "3.0", "hint": "1.0"}


def _tool_version() -> str:
    try:
        return metadata.version("refute")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _information_uri() -> str:
    try:
        for entry in metadata.metadata("refute").get_all("Project-URL") or []:
            _, _, url = entry.partition(",")
            if url.strip().startswith("http"):
                return url.strip()
    except metadata.PackageNotFoundError:
        pass
    return FALLBACK_URI


def rule_id(finding: Finding) -> str:
    category = (finding.category or "bug").strip().lower().replace(" ", "-")
    return f"refute/{category}/{finding.cwe}" if finding.cwe else f"refute/{category}"


def _rule(finding: Finding) -> dict[str, Any]:
    category = finding.category or "bug"
    tags = [category]
    properties: dict[str, Any] = {}
    if finding.cwe:
        number = finding.cwe.upper().removeprefix("CWE-")
        tags += ["security", f"external/cwe/cwe-{number}"]
        properties["cwe"] = finding.cwe
    properties["tags"] = list(dict.fromkeys(tags))  # category "security" plus a CWE: one tag
    name = f"{category} ({finding.cwe})" if finding.cwe else category
    description = (f"{category.capitalize()} findings reported by refute workflows and confirmed by "
                   "blind refuter agents" + (f"; weakness {finding.cwe}." if finding.cwe else "."))
    help_text = ("Each result quotes the code it is about and lists the verdicts of the agents that "
                 "tried to refute it. Review the evidence before acting; dismiss false positives with "
                 "`refute dismiss FINGERPRINT --reason ...` so the triage is shared.")
    rule: dict[str, Any] = {
        "id": rule_id(finding),
        "name": name,
        "shortDescription": {"text": f"refute: {name}"},
        "fullDescription": {"text": description},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": _LEVELS.get(finding.severity, "warning")},
        "properties": properties,
    }
    if finding.cwe:
        number = finding.cwe.upper().removeprefix("CWE-")
        if number.isdigit():
            rule["helpUri"] = f"https://cwe.mitre.org/data/definitions/{number}.html"
    return rule


def _message(finding: Finding) -> str:
    votes = {}
    for verdict in finding.verdicts:
        votes[verdict.verdict] = votes.get(verdict.verdict, 0) + 1
    tally = ", ".join(f"{n} {kind}" for kind, n in sorted(votes.items())) or "not cross-checked"
    label = f" [{DEMO_LABELS[finding.provider]}]" if finding.provider in DEMO_LABELS else ""
    text = f"{finding.title}. {finding.explanation}".strip()
    return f"{text} (verdicts: {tally}; confidence {finding.confidence:.2f}){label}"


def _result(finding: Finding, index: int, dismissals: dict[str, dict[str, Any]]) -> dict[str, Any]:
    span = finding.span
    result: dict[str, Any] = {
        "ruleId": rule_id(finding),
        "ruleIndex": index,
        "level": _LEVELS.get(finding.severity, "warning"),
        "message": {"text": _message(finding)},
        "locations": [{
            "physicalLocation": {
                "artifactLocation": {"uri": uri_quote(finding.path), "uriBaseId": "%SRCROOT%"},
                "region": {
                    "startLine": span.start_line + 1,
                    "startColumn": span.start_col + 1,
                    "endLine": span.end_line + 1,
                    "endColumn": span.end_col + 1,
                    "snippet": {"text": finding.quote},
                },
            }
        }],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "confidence": finding.confidence,
            "category": finding.category,
            "reviewState": finding.review_state,
            "provider": finding.provider,
            "workflow": finding.workflow,
            "runId": finding.run_id,
            "verdicts": [v.to_dict() for v in finding.verdicts],
        },
    }
    if finding.category == "security" or finding.cwe:
        result["properties"]["security-severity"] = _SECURITY_SEVERITY.get(finding.severity, "5.5")
    if finding.review_state == ReviewState.DISMISSED.value:
        entry = dismissals.get(finding.fingerprint, {})
        who = entry.get("who")
        why = entry.get("why") or "dismissed in refute"
        result["suppressions"] = [{
            "kind": "external",
            "status": "accepted",
            "justification": f"{why} ({who}, {entry.get('when', '')})" if who else why,
        }]
    return result


def to_sarif(findings: Iterable[Finding], run: RunInfo | None = None, *,
             dismissals: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    dismissals = dismissals or {}
    rules: list[dict[str, Any]] = []
    rule_index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    stale = fixed = 0
    for finding in findings:
        # Code scanning shows what is in the code now: a stale finding's code is gone, a
        # fixed one's fix is in place.
        if finding.review_state == ReviewState.STALE.value:
            stale += 1
            continue
        if finding.review_state == ReviewState.FIXED.value:
            fixed += 1
            continue
        rid = rule_id(finding)
        if rid not in rule_index:
            rule_index[rid] = len(rules)
            rules.append(_rule(finding))
        results.append(_result(finding, rule_index[rid], dismissals))
    demo = sorted({f.provider for f in findings if f.provider in DEMO_LABELS}
                  | ({run.provider} if run is not None and run.provider in DEMO_LABELS else set()))
    sarif_run: dict[str, Any] = {
        "tool": {"driver": {
            # A real model's demo answers must not pass for an audit in a code-scanning UI.
            "name": TOOL_NAME + (" (small local demo model)" if "local" in demo else ""),
            "version": _tool_version(),
            "informationUri": _information_uri(),
            "rules": rules,
        }},
        "columnKind": "unicodeCodePoints",
        "results": results,
        "properties": {"staleFindingsOmitted": stale, "fixedFindingsOmitted": fixed},
    }
    if demo:
        sarif_run["properties"]["notes"] = [DEMO_LABELS[p] for p in demo]
    if run is not None:
        sarif_run["automationDetails"] = {"id": f"refute/{run.workflow}/{run.id}"}
        sarif_run["invocations"] = [{
            "executionSuccessful": run.status is RunStatus.COMPLETED,
            "properties": {"status": run.status.value, "provider": run.provider, "error": run.error or ""},
        }]
        sarif_run["properties"].update({"provider": run.provider, "workflow": run.workflow})
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [sarif_run]}
