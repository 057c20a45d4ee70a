"""Findings (and workflow-script problems) as LSP diagnostics.

Each diagnostic carries a self-contained `data` payload (fingerprint, run id, path,
quote, fix) so a code action needs no server state. Publishing is debounced per file:
a run that confirms 30 findings in one file sends one notification, not 30.

Push vs pull: clients that support pull diagnostics *and* the refresh request get pull
(the server answers `textDocument/diagnostic` for open files and `workspace/diagnostic`
for every file with findings, open or not, and asks for a refresh when a file's
findings change); everyone else gets `textDocument/publishDiagnostics` for every file
with findings, open or not. Doing both would show each finding twice (Neovim and VS
Code keep separate collections). Without the workspace report, VS Code 1.100's Problems
panel said "No problems have been detected" after a workspace audit until each file
was opened (issue 16).
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from refute.orchestration.model import Finding

from .documents import Documents
from .findings_index import FindingIndex, Tracked
from .positions import span_to_range, to_client_column

SOURCE = "refute"
SCRIPT_SOURCE = "refute-workflow"
DEBOUNCE_S = 0.15
PUBLISH_BUDGET_S = 0.001  # of publishing per loop turn before requests get a turn
PUBLISH_YIELD_S = 0.001  # between turns: see BACKGROUND_YIELD_S in session.py

SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "info": types.DiagnosticSeverity.Information,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


def provider_label(provider: str) -> str:
    return "scripted provider: not a model" if provider == "scripted" else (provider or "unknown provider")


def finding_data(finding: Finding) -> dict:
    """The diagnostic `data` payload: everything a code action needs, nothing more."""
    return {
        "fingerprint": finding.fingerprint,
        "runId": finding.run_id,
        "workflow": finding.workflow,
        "path": finding.path,
        "category": finding.category,
        "title": finding.title,
        "quote": finding.quote,
        "provider": finding.provider,
        "fix": (
            {"oldText": finding.fix.old_text, "newText": finding.fix.new_text, "path": finding.fix.path}
            if finding.fix
            else None
        ),
    }


def finding_message(finding: Finding) -> str:
    label = " [scripted]" if finding.provider == "scripted" else ""
    confirmed = sum(1 for v in finding.verdicts if v.verdict == "confirmed")
    votes = f" ({confirmed}/{len(finding.verdicts)} refuters confirmed)" if finding.verdicts else ""
    return f"{finding.title}{votes}{label}"


def to_diagnostic(tracked: Tracked, uri: str, lines: list[str], encoding: str) -> types.Diagnostic | None:
    if tracked.span is None:
        return None
    finding = tracked.finding
    rng = span_to_range(tracked.span, lines, encoding)
    # No relatedInformation with the verdicts: VS Code shows it inside the hover, above
    # the server's hover that lists them too, so every verdict appeared twice (issue 16).
    # The message carries the tally; hover and evidence page carry the reasons.
    return types.Diagnostic(
        range=rng,
        message=finding_message(finding),
        severity=SEVERITY.get(str(finding.severity).lower(), types.DiagnosticSeverity.Warning),
        code=finding.category or "finding",
        source=SOURCE,
        data=finding_data(finding),
    )


def script_diagnostic(line: int, col: int, message: str, lines: list[str], encoding: str) -> types.Diagnostic:
    """A workflow-script problem. `line`/`col` are 0-based code points; the range covers
    the rest of the line so editors show something even for a column-less error."""
    text = lines[line].rstrip("\r\n") if 0 <= line < len(lines) else ""
    start = to_client_column(text, col, encoding)
    end = max(start + 1, to_client_column(text, len(text), encoding))
    return types.Diagnostic(
        range=types.Range(types.Position(line, start), types.Position(line, end)),
        message=message,
        severity=types.DiagnosticSeverity.Error,
        source=SCRIPT_SOURCE,
    )


class Publisher:
    """Debounced per-file diagnostics, push or pull, of the findings in `findings` and the
    workflow-script problems set here. `client` is what sends them (the pygls server)."""

    def __init__(self, client: LanguageServer, documents: Documents, findings: FindingIndex, encoding: str, *, pull: bool,
                 warn: Callable[[str], None]):
        self.client = client
        self.documents = documents
        self.findings = findings
        self.encoding = encoding
        self.pull = pull
        self.warn = warn
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self._due: collections.deque[str] = collections.deque()
        self._due_set: set[str] = set()
        self._pumping = False
        self._published: set[str] = set()  # paths with a non-empty push, to clear later
        self._refresh_pending: asyncio.TimerHandle | None = None
        # workflow-script problems by path: [(line, col, message)]
        self._script_problems: dict[str, list[tuple[int, int, str]]] = {}
        self.on_publish: Callable[[str, int], None] | None = None  # (path, count): for tests/bench
        # Pull mode: a version per path, bumped whenever its diagnostics may have changed;
        # it is the report's resultId, so an unchanged file costs the workspace pull
        # (VS Code repeats it every 2 s) one comparison and no disk read.
        self.versions: dict[str, int] = {}

    def diagnostics_for(self, path: str) -> list[types.Diagnostic]:
        uri = self.documents.uri(path)
        lines = self.documents.lines(path)
        out: list[types.Diagnostic] = []
        for tracked in self.findings.visible(path):
            diag = to_diagnostic(tracked, uri, lines, self.encoding)
            if diag is not None:
                out.append(diag)
        out.sort(key=lambda d: (d.range.start.line, d.range.start.character))
        for line, col, message in self._script_problems.get(path, []):
            out.append(script_diagnostic(line, col, message, lines, self.encoding))
        return out

    def set_script_problems(self, path: str, problems: list[tuple[int, int, str]]) -> None:
        """A workflow script's problems (line, col, message), published at once."""
        self._script_problems[path] = problems
        self.now(path)

    def schedule(self, path: str, delay: float = DEBOUNCE_S) -> None:
        if path in self._pending or path in self._due_set:
            return
        loop = asyncio.get_running_loop()
        self._pending[path] = loop.call_later(delay, self._make_due, path)

    def _make_due(self, path: str) -> None:
        """A file's debounce expired: queue it for the pump, which publishes a few files
        per loop turn (a run touching 300 files must not block a hover for all 300)."""
        self._pending.pop(path, None)
        if path in self._due_set:
            return
        self._due.append(path)
        self._due_set.add(path)
        if not self._pumping:
            self._pumping = True
            asyncio.get_running_loop().call_soon(self._pump)

    def _pump(self) -> None:
        deadline = time.perf_counter() + PUBLISH_BUDGET_S
        while self._due:
            path = self._due.popleft()
            self._due_set.discard(path)
            self._flush(path)
            if time.perf_counter() > deadline and self._due:
                asyncio.get_running_loop().call_later(PUBLISH_YIELD_S, self._pump)
                return
        self._pumping = False

    def now(self, path: str) -> None:
        """Publish at once (a dismissal must disappear without waiting)."""
        handle = self._pending.pop(path, None)
        if handle:
            handle.cancel()
        if path in self._due_set:
            self._due_set.discard(path)
            self._due.remove(path)
        self._flush(path)

    def _flush(self, path: str) -> None:
        try:
            if self.pull:
                self.versions[path] = self.versions.get(path, 0) + 1
                self._request_refresh()
                return
            diags = self.diagnostics_for(path)
            if not diags and path not in self._published:
                return
            uri = self.documents.uri(path)
            # No version: a version that is stale by the time it arrives makes clients
            # drop the diagnostics, and re-anchoring already matched them to the text.
            self.client.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diags))
            if diags:
                self._published.add(path)
            else:
                self._published.discard(path)
            if self.on_publish:
                self.on_publish(path, len(diags))
        except Exception as exc:  # a bad finding must not stop later publishes
            self.warn(f"could not publish diagnostics for {path}: {exc}")

    def result_id(self, path: str) -> str:
        return str(self.versions.get(path, 0))

    def workspace_paths(self) -> list[str]:
        """Every file a workspace pull reports: those with findings or script problems,
        and those that had some (an empty report clears what the client shows)."""
        return sorted(set(self.versions) | set(self.findings.paths()) | set(self._script_problems))

    def _request_refresh(self) -> None:
        if self._refresh_pending is not None:
            return

        def refresh() -> None:
            self._refresh_pending = None
            self.client.workspace_diagnostic_refresh(None)

        self._refresh_pending = asyncio.get_running_loop().call_later(0, refresh)

    def cancel_all(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        self._due.clear()
        self._due_set.clear()
