"""The server's view of the findings it shows: by file, by fingerprint, each anchored to
the text the person currently sees.

Findings arrive from run events and from `engine.findings()` (earlier runs, after a
restart). When a buffer changes, every finding of that file is re-anchored by its quote:
the occurrence nearest to where it was wins; a finding whose quote is gone is kept but
hidden (stale) so an undo brings it back, and so is one whose suggested fix is in the text.
Lives on the event loop thread only.
"""

from __future__ import annotations

from dataclasses import dataclass

from refute.analysis.anchor import anchor_quote
from refute.orchestration.verification.findings import fix_in_place
from refute.orchestration.model import Finding, Span


@dataclass
class Tracked:
    finding: Finding
    span: Span | None  # where the quote is in the current text; None while stale
    fixed: bool = False  # its suggested fix is in the text: hidden, back if undone

    @property
    def stale(self) -> bool:
        return self.span is None

    @property
    def hidden(self) -> bool:
        return self.span is None or self.fixed


def anchor_near(text: str, quote: str, near: Span | None) -> Span | None:
    """Span of `quote` in `text` by the engine's own rule (analysis.anchor), the match
    nearest to where it was before the edit winning: a quote can repeat in a file."""
    return anchor_quote(text, quote, near=(near.start_line, near.start_col) if near else None)


class FindingIndex:
    def __init__(self) -> None:
        self._by_path: dict[str, dict[str, Tracked]] = {}
        self._path_of: dict[str, str] = {}

    def add(self, finding: Finding, text: str | None) -> Tracked:
        """Add or replace (same fingerprint: the newer finding wins). With `text`, the
        quote is anchored against it; without, the engine's span is trusted."""
        self.remove(finding.fingerprint)
        span: Span | None = finding.span
        fixed = False
        if text is not None:
            span = anchor_near(text, finding.quote, finding.span)
            fixed = fix_in_place(text, finding)
        tracked = Tracked(finding, span, fixed)
        self._by_path.setdefault(finding.path, {})[finding.fingerprint] = tracked
        self._path_of[finding.fingerprint] = finding.path
        return tracked

    def remove(self, fingerprint: str) -> Tracked | None:
        path = self._path_of.pop(fingerprint, None)
        if path is None:
            return None
        tracked = self._by_path.get(path, {}).pop(fingerprint, None)
        if path in self._by_path and not self._by_path[path]:
            del self._by_path[path]
        return tracked

    def get(self, fingerprint: str) -> Tracked | None:
        path = self._path_of.get(fingerprint)
        return self._by_path.get(path, {}).get(fingerprint) if path else None

    def in_file(self, path: str) -> list[Tracked]:
        return list(self._by_path.get(path, {}).values())

    def visible(self, path: str) -> list[Tracked]:
        return [t for t in self.in_file(path) if not t.hidden]

    def all(self) -> list[Tracked]:
        return [t for by_fp in self._by_path.values() for t in by_fp.values()]

    def paths(self) -> list[str]:
        return list(self._by_path)

    def reanchor(self, path: str, text: str) -> bool:
        """Re-anchor every finding of `path` against `text`; True if any span moved or
        a finding was hidden or shown again (the file's diagnostics need publishing)."""
        changed = False
        for tracked in self._by_path.get(path, {}).values():
            near = tracked.span or tracked.finding.span
            span = anchor_near(text, tracked.finding.quote, near)
            fixed = fix_in_place(text, tracked.finding)
            if span != tracked.span or fixed != tracked.fixed:
                tracked.span, tracked.fixed = span, fixed
                changed = True
        return changed

    def __len__(self) -> int:
        return len(self._path_of)
