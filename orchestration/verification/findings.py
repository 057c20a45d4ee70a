"""Findings: the mechanical check, deduplication, re-anchoring, shared dismissals.

A finding must quote the code it is about. `FindingsStore.ingest` anchors the quote in
the file's current text and drops the finding (counting why) when the path is not a text
file inside the workspace or the quote is not in it: a free check against invented
evidence. Findings are keyed by a fingerprint (path, category, whitespace-collapsed
quote) so the same finding from two units or two runs merges, and a dismissal survives
re-runs and small edits.

State lives in diskcache under `<state_dir>/findings` (safe for the CLI and the language
server at once). Dismissals live in `<workspace>/.refute/dismissed.json`, which the team
commits: {fingerprint: {who, when, why, title, path}}; writes are atomic (temp file +
os.replace) under a lock file in the state dir.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any, Iterable, Iterator

import diskcache

from refute.analysis.paths import PathRefused, PathRule, Purpose
from refute.orchestration.errors import InvalidInput, NotFound
from refute.analysis.textfile import NotText, read_text
from refute.orchestration.model import Finding, ReviewState, Severity, Span, TextEdit, Verdict
from refute.orchestration.calls.redaction import redact

MAX_FILE_BYTES = 2_000_000  # larger files are not source we anchor quotes in
DISMISSED_FILE = Path(".refute") / "dismissed.json"

_SEVERITY_ALIASES = {
    "critical": "error", "high": "error", "error": "error",
    "medium": "warning", "moderate": "warning", "warning": "warning",
    "low": "info", "info": "info", "note": "info", "hint": "hint",
}
_SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2, "hint": 3}


class FindingNotFound(NotFound, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "finding not found"


def normalise_quote(quote: str) -> str:
    """Whitespace-collapsed quote: re-indenting or re-wrapping code keeps the fingerprint."""
    return " ".join(quote.split())


def fingerprint(path: str, category: str, quote: str) -> str:
    """Stable id of a finding: path, category and normalised quote (not line numbers)."""
    blob = "\x1f".join(("finding/v1", PurePosixPath(path).as_posix(), category.strip().lower(),
                        normalise_quote(quote)))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


class WorkspaceFileError(InvalidInput):
    """A path a model named is not a readable text file inside the workspace."""


def resolve_in_workspace(workspace: Path, path: str, *, purpose: Purpose = Purpose.SEND,
                         never_send: Iterable[str] = ()) -> tuple[Path, str]:
    """(absolute path, workspace-relative posix path) or WorkspaceFileError: the one path
    rule (refute.analysis.paths) asked for `purpose` (SEND: a model names or sees it)."""
    try:
        admitted = PathRule(workspace, never_send=never_send).check(path, purpose)
    except PathRefused as exc:
        raise WorkspaceFileError(str(exc)) from None
    return admitted.path, admitted.rel


def read_text_file(absolute: Path, rel: str) -> str:
    """The file's text, or WorkspaceFileError saying why it is not a readable text file."""
    try:
        return read_text(absolute, rel, max_bytes=MAX_FILE_BYTES, purpose="for anchoring quotes")
    except NotText as exc:
        raise WorkspaceFileError(str(exc)) from None


REDACTED_MARKER = re.compile(r"\[REDACTED:[A-Za-z_]+\]")


def anchor_as_seen(text: str, quote: str) -> Span | None:
    """The mechanical quote check, run on the text the model saw: `redact(text)`, not the
    file. A quote that holds a guess at a redacted secret never matches, so which of a
    finder's guesses was right never leaks through which finding survived (issue 10: of
    four guesses at a redacted AWS key, only the right one used to reach refuters). A
    quote that passes is then placed in the real file (markers match any text on their
    line), so the span is the file's."""
    if anchor(redact(text)[0], quote) is None:
        return None
    return anchor(text, quote)


def anchor(text: str, quote: str) -> Span | None:
    """Where `quote` is in `text`, as a model.Span (exact first, then whitespace-insensitive).

    Models see secrets as "[REDACTED:kind]" (secrets.redact runs on every prompt), so a
    quote may carry such markers; each stands for the secret on that line. The quote itself
    stays redacted in the finding, so reports never show the secret.
    """
    from refute.analysis.anchor import anchor_quote, span_of  # analysis owns the matching rules

    found = anchor_quote(text, quote)
    if found is None and REDACTED_MARKER.search(quote or ""):
        parts = REDACTED_MARKER.split(quote.strip())
        if sum(len(part.strip()) for part in parts) >= 3:  # a bare marker anchors nowhere
            segments = [r"\s+".join(re.escape(word) for word in part.split()) for part in parts]
            match = re.search(r"[^\n]+?".join(segments), text)
            if match is not None:
                found = span_of(text, match.start(), match.end())
    return found


def locate_quote(workspace: Path, path: str, quote: str, *, never_send: Iterable[str] = ()) -> dict[str, Any] | None:
    """{"path", "line", "end_line"} (1-based) where `quote` is in the workspace file now,
    or None: outside the workspace, a secret-looking file, not text, or not there."""
    try:
        absolute, rel = resolve_in_workspace(workspace, path, never_send=never_send)
        span = anchor_as_seen(read_text_file(absolute, rel), quote or "")
    except WorkspaceFileError:
        return None
    if span is None:
        return None
    return {"path": rel, "line": span.start_line + 1, "end_line": span.end_line + 1}


def fix_in_place(text: str, finding: Finding) -> bool:
    """Whether the finding's suggested fix is already in `text` (a person applied it):
    the new code is there and, unless it contains the old code, the old code is gone."""
    fix = finding.fix
    if fix is None or fix.new_text == fix.old_text:
        return False
    old_there = anchor(text, fix.old_text) is not None
    if not fix.new_text.strip():
        return not old_there  # a deletion
    if anchor(text, fix.new_text) is None:
        return False
    return fix.old_text in fix.new_text or not old_there


@contextlib.contextmanager
def file_lock(lock_path: Path) -> Iterator[None]:
    """An exclusive inter-process lock held while the block runs."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+b") as handle:
        try:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        except ImportError:  # Windows
            import msvcrt

            handle.seek(0)
            while True:
                try:
                    msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    time.sleep(0.05)
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write `data` to `path` so readers see the old or the new content, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class FindingsStore:
    """Findings of every run in one workspace, shared by the CLI and the language server."""

    def __init__(self, workspace: Path, state_dir: Path, *, never_send: Iterable[str] = ()):
        self.workspace = Path(workspace).resolve()
        self.never_send = tuple(never_send)  # settings' extra secret globs for the path rule
        self.state_dir = Path(state_dir)
        self._cache = diskcache.Cache(str(self.state_dir / "findings"))
        self._dismissed_path = self.workspace / DISMISSED_FILE
        self._dismissed_lock = self.state_dir / "dismissed.lock"

    def close(self) -> None:
        self._cache.close()

    # --- ingest -------------------------------------------------------------------------

    def ingest(self, raw: dict[str, Any], *, run_id: str, workflow: str = "", provider: str = "",
               provenance: list[str] | tuple[str, ...] = ()) -> tuple[Finding | None, str | None]:
        """Check and store one candidate finding: (finding, None) or (None, why dropped)."""
        finding, reason = self._check(raw, run_id=run_id, workflow=workflow, provider=provider,
                                      provenance=provenance)
        if finding is None:
            self._record_drop(run_id, raw, reason or "invalid finding")
            return None, reason
        dismissed = self._dismissals()
        with self._cache.transact():
            record = self._cache.get(_key(finding.fingerprint))
            if record is not None:
                finding = _merge(Finding.from_dict(record["finding"]), finding)
                runs = record["runs"] + ([run_id] if run_id not in record["runs"] else [])
            else:
                runs = [run_id]
            if finding.fingerprint in dismissed:
                finding.review_state = ReviewState.DISMISSED.value
            elif finding.review_state in (ReviewState.DISMISSED.value, ReviewState.STALE.value):
                finding.review_state = ReviewState.NEW.value  # restored, or back in the file
            self._cache.set(_key(finding.fingerprint), {"finding": finding.to_dict(), "runs": runs})
        return finding, None

    def _check(self, raw: Any, *, run_id: str, workflow: str, provider: str,
               provenance: list[str] | tuple[str, ...]) -> tuple[Finding | None, str | None]:
        if not isinstance(raw, dict):
            return None, f"finding is {type(raw).__name__}, not an object"
        quote = raw.get("quote")
        if not isinstance(quote, str) or not quote.strip():
            return None, "no quote: a finding must quote the code it is about"
        try:
            absolute, rel = resolve_in_workspace(self.workspace, raw.get("path", ""), never_send=self.never_send)
            text = read_text_file(absolute, rel)
        except WorkspaceFileError as exc:
            return None, f"bad path: {exc}"
        span = anchor_as_seen(text, quote)
        if span is None:
            return None, f"quote not found in {rel} (as the model saw it, secrets redacted)"
        category = str(raw.get("category") or "bug").strip().lower() or "bug"
        severity = _SEVERITY_ALIASES.get(str(raw.get("severity", "")).strip().lower(),
                                         Severity.WARNING.value)
        verdicts = [v if isinstance(v, Verdict) else Verdict.from_dict(v)
                    for v in raw.get("verdicts") or [] if isinstance(v, (dict, Verdict))]
        severity = verified_severity(severity, verdicts)
        fix = None
        raw_fix = raw.get("fix")
        if isinstance(raw_fix, dict) and isinstance(raw_fix.get("old"), str) and isinstance(raw_fix.get("new"), str):
            fix = TextEdit(rel, raw_fix["old"], raw_fix["new"], anchor(text, raw_fix["old"]))
        cwe = raw.get("cwe")
        keys = [str(k) for k in list(provenance) + list(raw.get("provenance") or []) if k]
        finding = Finding(
            fingerprint=fingerprint(rel, category, quote),
            path=rel,
            span=span,
            severity=severity,
            category=category,
            title=str(raw.get("title") or "").strip() or "(untitled finding)",
            explanation=str(raw.get("explanation") or ""),
            quote=quote,
            verdicts=verdicts,
            confidence=float(raw.get("confidence") or 0.0),
            fix=fix,
            provenance=list(dict.fromkeys(keys)),
            run_id=run_id,
            workflow=workflow,
            cwe=_normalise_cwe(cwe),
            provider=provider,
            cost_usd=float(raw.get("cost_usd") or 0.0),
        )
        return finding, None

    def _record_drop(self, run_id: str, raw: Any, reason: str) -> None:
        raw = raw if isinstance(raw, dict) else {}
        entry = {"reason": reason, "path": str(raw.get("path", "")), "quote": redact(str(raw.get("quote", "")))[0][:500],
                 "title": str(raw.get("title", "")), "ts": time.time()}
        with self._cache.transact():
            drops = self._cache.get(_drop_key(run_id), [])
            drops.append(entry)
            self._cache.set(_drop_key(run_id), drops)

    def dropped(self, run_id: str) -> list[dict[str, Any]]:
        """Candidate findings of a run that failed the mechanical check, with the reason."""
        return list(self._cache.get(_drop_key(run_id), []))

    # --- read ----------------------------------------------------------------------------

    def list(self, *, run_id: str | None = None, path: str | None = None,
             include_dismissed: bool = False) -> list[Finding]:
        """Findings re-anchored against the files' current text, sorted by file and line."""
        dismissed = self._dismissals()
        wanted_path = _normalise_rel(path) if path else None
        texts: dict[str, str | None] = {}
        out: list[Finding] = []
        for key in list(self._cache.iterkeys()):
            if not str(key).startswith("f:"):
                continue
            record = self._cache.get(key)
            if record is None:
                continue
            if run_id is not None and run_id not in record["runs"]:
                continue
            finding = Finding.from_dict(record["finding"])
            if wanted_path and not (finding.path == wanted_path or finding.path.startswith(wanted_path.rstrip("/") + "/")):
                continue
            self._refresh(finding, dismissed, texts)
            if finding.review_state == ReviewState.DISMISSED.value and not include_dismissed:
                continue
            out.append(finding)
        out.sort(key=lambda f: (f.path, f.span.start_line, f.span.start_col, f.fingerprint))
        return out

    def get(self, fp: str) -> Finding | None:
        record = self._cache.get(_key(fp))
        if record is None:
            return None
        finding = Finding.from_dict(record["finding"])
        self._refresh(finding, self._dismissals(), {})
        return finding

    def earlier_findings(self, run_id: str) -> list[Finding]:
        """Findings first stored by a run other than `run_id`, at their current place
        (verification/dedup.py compares a run's candidates with these; what `run_id`
        stores meanwhile is left out, so it never changes that run's merges)."""
        dismissed, texts, out = self._dismissals(), {}, []
        for key in list(self._cache.iterkeys()):
            if not str(key).startswith("f:"):
                continue
            record = self._cache.get(key)
            if record is None or (record["runs"] or [run_id])[0] == run_id:
                continue
            finding = Finding.from_dict(record["finding"])
            self._refresh(finding, dismissed, texts)
            out.append(finding)
        return out

    def record_merge(self, fp: str, merged: dict[str, Any]) -> None:
        """Write down that a candidate was merged into the stored finding `fp`; the
        finding joins the merging run (its report lists it, no refuter is paid again)."""
        with self._cache.transact():
            record = self._cache.get(_key(fp))
            if record is None:
                return
            record["merged"] = list(record.get("merged") or []) + [merged]
            run_id = merged.get("run_id")
            if run_id and run_id not in record["runs"]:
                record["runs"] = list(record["runs"]) + [run_id]
            if run_id:
                record["finding"] = {**record["finding"], "run_id": run_id}  # found again by this run
            self._cache.set(_key(fp), record)

    def merges_of(self, fp: str) -> list[dict[str, Any]]:
        record = self._cache.get(_key(fp))
        return list(record.get("merged") or []) if record else []

    def runs_of(self, fp: str) -> list[str]:
        record = self._cache.get(_key(fp))
        return list(record["runs"]) if record else []

    def _refresh(self, finding: Finding, dismissed: dict[str, Any], texts: dict[str, str | None]) -> None:
        """Move the span to where the quote is now; stale if it is gone; apply dismissals."""
        if finding.path not in texts:
            try:
                absolute, rel = resolve_in_workspace(self.workspace, finding.path, never_send=self.never_send)
                texts[finding.path] = read_text_file(absolute, rel)
            except (WorkspaceFileError, OSError):
                texts[finding.path] = None
        text = texts[finding.path]
        span = anchor(text, finding.quote) if text is not None else None
        if span is None:
            if finding.review_state != ReviewState.FIXED.value:
                finding.review_state = ReviewState.STALE.value
        else:
            finding.span = span
            if finding.fix is not None:
                finding.fix.span = anchor(text, finding.fix.old_text)
            if finding.review_state == ReviewState.STALE.value:
                finding.review_state = ReviewState.NEW.value
        if text is not None and fix_in_place(text, finding):
            finding.review_state = ReviewState.FIXED.value
        elif finding.review_state == ReviewState.FIXED.value and span is not None:
            finding.review_state = ReviewState.NEW.value  # the fix was undone
        if finding.fingerprint in dismissed:
            finding.review_state = ReviewState.DISMISSED.value
        elif finding.review_state == ReviewState.DISMISSED.value:
            finding.review_state = ReviewState.NEW.value  # the dismissal was removed from the file

    # --- triage --------------------------------------------------------------------------

    def dismiss(self, fp: str, reason: str, who: str) -> Finding:
        """Record a dismissal in .refute/dismissed.json (the file the team commits)."""
        finding = self._require(fp)
        if not reason or not reason.strip():
            raise InvalidInput("a dismissal needs a reason (it is shared with the team)")
        entry = {"who": who or "unknown", "when": _now_iso(), "why": reason.strip(),
                 "title": finding.title, "path": finding.path}
        with file_lock(self._dismissed_lock):
            current = self._read_dismissals()
            current[fp] = entry
            self._write_dismissals(current)
        self._set_stored_state(fp, ReviewState.DISMISSED.value)
        finding.review_state = ReviewState.DISMISSED.value
        return finding

    def restore(self, fp: str) -> Finding:
        finding = self._require(fp)
        with file_lock(self._dismissed_lock):
            current = self._read_dismissals()
            if current.pop(fp, None) is not None:
                self._write_dismissals(current)
        self._set_stored_state(fp, ReviewState.NEW.value)
        return self._require(fp)

    def set_state(self, fp: str, state: str) -> Finding:
        """Set review state new / accepted / fixed (dismissals go through `dismiss`)."""
        allowed = {ReviewState.NEW.value, ReviewState.ACCEPTED.value, ReviewState.FIXED.value}
        if state not in allowed:
            hint = " (use dismiss(), which records who and why)" if state == ReviewState.DISMISSED.value else ""
            raise InvalidInput(f"cannot set review state {state!r}{hint}; allowed: {sorted(allowed)}")
        self._require(fp)
        self._set_stored_state(fp, state)
        return self._require(fp)

    def dismissals(self) -> dict[str, dict[str, Any]]:
        return self._dismissals()

    def _require(self, fp: str) -> Finding:
        finding = self.get(fp)
        if finding is None:
            raise FindingNotFound(f"no finding with fingerprint {fp!r} (see `refute findings --all`)")
        return finding

    def _set_stored_state(self, fp: str, state: str) -> None:
        with self._cache.transact():
            record = self._cache.get(_key(fp))
            if record is None:
                return
            record["finding"]["review_state"] = state
            self._cache.set(_key(fp), record)

    def _dismissals(self) -> dict[str, dict[str, Any]]:
        return self._read_dismissals()

    def _read_dismissals(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._dismissed_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            # A broken team file must not silently undo everyone's triage.
            raise InvalidInput(f"{self._dismissed_path}: cannot read dismissals: {exc}") from exc
        if not isinstance(data, dict):
            raise InvalidInput(f"{self._dismissed_path}: expected a JSON object of fingerprint -> dismissal")
        return data

    def _write_dismissals(self, data: dict[str, dict[str, Any]]) -> None:
        blob = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        atomic_write(self._dismissed_path, blob.encode("utf-8"))


def _key(fp: str) -> str:
    return f"f:{fp}"


def _drop_key(run_id: str) -> str:
    return f"dropped:{run_id}"


def _normalise_rel(path: str) -> str:
    p = path.replace("\\", "/").strip()
    return p[2:] if p.startswith("./") else p


def _normalise_cwe(cwe: Any) -> str | None:
    if cwe is None or cwe == "":
        return None
    text = str(cwe).strip().upper()
    if text.isdigit():
        return f"CWE-{text}"
    if text.startswith("CWE") and not text.startswith("CWE-"):
        return "CWE-" + text[3:].lstrip(" :_")
    return text


def verified_severity(reported: str, verdicts: list[Verdict]) -> str:
    """Verifiers can only lower a finding's severity: the median severity of the
    confirming verdicts that give one, when that is lower than what the finder reported."""
    ranks = sorted(_SEVERITY_RANK[v.severity] for v in verdicts
                   if v.verdict == "confirmed" and v.severity in _SEVERITY_RANK)
    if not ranks:
        return reported
    median = ranks[(len(ranks) - 1) // 2]  # the more severe middle value on an even count
    if median > _SEVERITY_RANK.get(reported, 1):
        return next(name for name, rank in _SEVERITY_RANK.items() if rank == median)
    return reported


def _merge(old: Finding, new: Finding) -> Finding:
    """The same finding reported again (another unit or run): keep one, merge evidence."""
    from refute.orchestration.verification.verify import vote

    seen = {(v.agent, v.verdict, v.reason) for v in old.verdicts}
    verdicts = list(old.verdicts) + [v for v in new.verdicts if (v.agent, v.verdict, v.reason) not in seen]
    new_calls = set(new.provenance) - set(old.provenance)
    merged = new
    merged.verdicts = verdicts
    merged.provenance = list(dict.fromkeys(old.provenance + new.provenance))
    merged.confidence = vote([v.to_dict() for v in verdicts])["confidence"] if verdicts else max(old.confidence, new.confidence)
    # The latest verified severity wins across runs (verifiers may have lowered it); an
    # unverified re-report does not undo a verified one.
    if not new.verdicts and old.verdicts:
        merged.severity = old.severity
    merged.cwe = new.cwe or old.cwe
    merged.fix = new.fix or old.fix
    merged.review_state = old.review_state
    # Calls already counted (a resumed or re-run run replaying them) are not counted twice.
    merged.cost_usd = old.cost_usd + new.cost_usd if new_calls else max(old.cost_usd, new.cost_usd)
    return merged
