"""Evidence documents: one readable markdown page per finding, with the quoted code, every
refuter's verdict and reason, the fix, and where it came from. Written under
`.refute/evidence/` so it can be opened, searched and linked like any file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from refute.orchestration.model import Finding
from refute.orchestration.providers.base import provider_label  # noqa: F401 (hover imports it from here)

EVIDENCE_DIR = Path(".refute") / "evidence"

_LANG = {".py": "python", ".js": "javascript", ".ts": "typescript", ".go": "go", ".rs": "rust",
         ".java": "java", ".c": "c", ".h": "c", ".cpp": "cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php"}



def _fence(text: str, path: str) -> list[str]:
    fence = "```"
    while fence in text:
        fence += "`"
    return [fence + _LANG.get(Path(path).suffix, ""), text.rstrip("\n"), fence]


def render(finding: Finding, current_line: int | None = None) -> str:
    line = (current_line if current_line is not None else finding.span.start_line) + 1
    confirmed = sum(1 for v in finding.verdicts if v.verdict == "confirmed")
    out = [
        f"# {finding.title}",
        "",
        f"- **File**: `{finding.path}`, line {line}",
        f"- **Severity / category**: {finding.severity} / {finding.category}" + (f" ({finding.cwe})" if finding.cwe else ""),
        f"- **Confidence**: {finding.confidence:.2f}",
        f"- **Verdicts**: {confirmed} of {len(finding.verdicts)} refuters confirmed" if finding.verdicts else "- **Verdicts**: not cross-checked",
        f"- **Provider**: {provider_label(finding.provider)}",
        f"- **Cost**: ${finding.cost_usd:.4f}",
        f"- **Run**: `{finding.run_id}`" + (f" (workflow `{finding.workflow}`)" if finding.workflow else ""),
        f"- **Review state**: {finding.review_state}",
        f"- **Fingerprint**: `{finding.fingerprint}`",
        "",
        "## Explanation",
        "",
        finding.explanation.strip() or "(none given)",
        "",
        "## Quoted code",
        "",
        *_fence(finding.quote, finding.path),
        "",
        "## Verdicts and reasons",
        "",
    ]
    if not finding.verdicts:
        out.append("No refuter looked at this finding.")
    for i, verdict in enumerate(finding.verdicts, 1):
        who = f" — {verdict.agent}" if verdict.agent else ""
        provider = f" [{provider_label(verdict.provider)}]" if verdict.provider else ""
        out.append(f"{i}. **{verdict.verdict}**{who}{provider}: {verdict.reason.strip() or '(no reason given)'}")
        if verdict.evidence.strip():
            out.append("")
            out.extend("   " + line for line in _fence(verdict.evidence, finding.path))
    if finding.fix is not None:
        out += ["", "## Suggested fix", "", "Replace:", "", *_fence(finding.fix.old_text, finding.path), "",
                "with:", "", *_fence(finding.fix.new_text, finding.path)]
    if finding.provenance:
        out += ["", "## Provenance (journal keys of the agent calls)", ""]
        out += [f"- `{key}`" for key in finding.provenance]
    out.append("")
    return "\n".join(out)


def page_name(finding: Finding) -> str:
    """The page's file name, which editors show as the tab title: the finding's title
    first (a tab named after a 32-character hash said nothing, issue 16), then the first
    8 characters of its fingerprint so two findings with one title get two pages."""
    slug = re.sub(r"[^a-z0-9]+", "-", finding.title.lower()).strip("-")[:60].rstrip("-") or "finding"
    return f"{slug}-{finding.fingerprint[:8]}.md"


def write(root: Path, finding: Finding, current_line: int | None = None) -> Path:
    """Write the evidence page atomically; returns its absolute path."""
    folder = root / EVIDENCE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / page_name(finding)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".evidence-", suffix=".md")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(render(finding, current_line))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
