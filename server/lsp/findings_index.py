"""The server's view of the findings it shows: by file, by fingerprint, each anchored to
the text the person currently sees.

Findings arrive from run events and from `engine.findings()` (earlier runs, after a
restart). When a buffer changes, every finding of that file is re-anchored by its quote:
the occurrence nearest to where it was wins; a finding whose quote is gone is kept but
hidden (stale) so an undo brings it back. Lives on the event loop thread only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from refute.orchestration.model import Finding, Span

from .positions import span_from_offsets


@dataclass
class Tracked:
    finding: Finding
    span: Span | None  # where the quote is in the current text; None while stale

    @property
    def stale(self) -> bool:
        return self.span is None


def _offset(text: str, line: int, col: int) -> int:
    offset = 0
    for _ in range(line):
        nl = text.find("\n", offset)
        if nl < 0:
            return len(text)
        offset = nl + 1
    return offset + col


def _whitespace_pattern(quote: str) -> re.Pattern[str] | None:
    parts = quote.split()
    if not parts:
        return None
    return re.compile(r"\s+".join(re.escape(p) for p in parts))


def anchor_near(text: str, quote: str, near: Span | None) -> Span | None:
    """Span of `quote` in `text`: exact matches first, then whitespace-insensitive; of
    several matches, the one starting nearest to `near` (where it was before the edit).
    Same matching rules as analysis.anchor.anchor_quote, plus the nearest-match choice
    a live buffer needs (a quote can repeat in a file)."""
    if not quote.strip():
        return None
    target = _offset(text, near.start_line, near.start_col) if near else 0
    matches = [(m.start(), m.start() + len(quote)) for m in re.finditer(re.escape(quote), text)]
    if not matches:
        pattern = _whitespace_pattern(quote)
        if pattern is None:
            return None
        matches = [(m.start(), m.end()) for m in pattern.finditer(text)]
    if not matches:
        return None
    start, end = min(matches, key=lambda m: abs(m[0] - target))
    return span_from_offsets(text, start, end)


class FindingIndex:
    def __init__(self) -> None:
        self._by_path: dict[str, dict[str, Tracked]] = {}
        self._path_of: dict[str, str] = {}

    def add(self, finding: Finding, text: str | None) -> Tracked:
        """Add or replace (same fingerprint: the newer finding wins). With `text`, the
        quote is anchored against it; without, the engine's span is trusted."""
        self.remove(finding.fingerprint)
        span: Span | None = finding.span
        if text is not None:
            span = anchor_near(text, finding.quote, finding.span)
        tracked = Tracked(finding, span)
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
        return [t for t in self.in_file(path) if not t.stale]

    def all(self) -> list[Tracked]:
        return [t for by_fp in self._by_path.values() for t in by_fp.values()]

    def paths(self) -> list[str]:
        return list(self._by_path)

    def reanchor(self, path: str, text: str) -> bool:
        """Re-anchor every finding of `path` against `text`; True if any span moved or
        changed staleness (the file's diagnostics need publishing)."""
        changed = False
        for tracked in self._by_path.get(path, {}).values():
            near = tracked.span or tracked.finding.span
            span = anchor_near(text, tracked.finding.quote, near)
            if span != tracked.span:
                tracked.span = span
                changed = True
        return changed

    def __len__(self) -> int:
        return len(self._path_of)
