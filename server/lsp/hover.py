"""Hover on a finding: title, verdicts with reasons, confidence, cost, and which provider
produced it (a scripted provider is always labelled as such). Answered from the
server's in-memory index: no engine call, no disk read for open buffers.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from .evidence import provider_label
from .findings_index import Tracked
from .positions import position_to_point, span_contains, span_to_range
from .session import Session


def hover_markdown(tracked: Tracked) -> str:
    f = tracked.finding
    confirmed = sum(1 for v in f.verdicts if v.verdict == "confirmed")
    lines = [
        f"**refute: {f.title}**",
        "",
        f"{f.severity} · {f.category}" + (f" · {f.cwe}" if f.cwe else "")
        + f" · confidence {f.confidence:.2f} · cost ${f.cost_usd:.4f}",
        "",
        f"Provider: {provider_label(f.provider)}",
    ]
    if f.explanation.strip():
        lines += ["", f.explanation.strip()]
    lines += ["", f"Verdicts: {confirmed} of {len(f.verdicts)} refuters confirmed" if f.verdicts else "Verdicts: not cross-checked"]
    for i, v in enumerate(f.verdicts, 1):
        reason = " ".join(v.reason.split()) or "(no reason given)"
        lines.append(f"{i}. *{v.verdict}*: {reason}")
    if f.fix is not None:
        lines += ["", "A fix is available (quick fix)."]
    lines += ["", f"Run `{f.run_id}` · fingerprint `{f.fingerprint[:12]}`"]
    return "\n".join(lines)


def register(server: LanguageServer, session: Session) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(params: types.HoverParams) -> types.Hover | None:
        path = session.documents.path(params.text_document.uri)
        if path is None:
            return None
        found = session.findings.visible(path)
        if not found:
            return None
        lines = session.documents.lines(path)
        line, col = position_to_point(params.position, lines, session.encoding)
        hits = [t for t in found if span_contains(t.span, line, col)]
        if not hits:
            return None
        hits.sort(key=lambda t: (t.span.end_line - t.span.start_line, t.span.end_col - t.span.start_col))
        markdown = "\n\n---\n\n".join(hover_markdown(t) for t in hits)
        kind = types.MarkupKind.Markdown if session.support.markdown_hover else types.MarkupKind.PlainText
        return types.Hover(
            contents=types.MarkupContent(kind=kind, value=markdown),
            range=span_to_range(hits[0].span, lines, session.encoding),
        )
