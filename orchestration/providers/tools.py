"""Read-only workspace tools an agent may use during a call (the tool-use loop).

Every path is judged by the one path rule (refute.analysis.paths, purpose SEND): no
absolute paths, no `..`, no symlink that resolves outside, no secret-looking file (the
default list, .refuteignore, the never_send setting), no VCS or refute state.
Outputs are bounded and redacted before they go back to the model. A tool failure is a
`ToolError`, returned to the model as an error tool_result (the call goes on); it never
crashes the call.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator

from refute.analysis.languages import detect
from refute.analysis.paths import PathRefused, PathRule, Purpose
from refute.analysis.symbols import list_symbols
from refute.analysis.textfile import NotText, read_text
from refute.orchestration.calls.redaction import redact

MAX_TOOL_TURNS = 8  # model turns that may ask for tools before it must answer
MAX_TOOL_CALLS_PER_TURN = 8
MAX_RESULT_CHARS = 8_000  # one tool result
MAX_TURN_RESULT_CHARS = 16_000  # all tool results of one turn together
MAX_READ_LINES = 400
MAX_SEARCH_MATCHES = 50
MAX_SEARCH_FILES = 5_000
MAX_FILE_BYTES = 2_000_000
_SKIP_DIRS = {".git", ".hg", ".svn", ".refute", "node_modules", ".venv", "venv", "__pycache__", ".mypy_cache",
              ".pytest_cache", ".tox", "dist", "build"}


class ToolError(Exception):
    """A tool could not do what was asked; the message goes back to the model."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    run: Callable[..., str]  # (workspace, input, never_send) -> text

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema}


# --- path confinement ---------------------------------------------------------------------


def resolve_path(root: str | os.PathLike[str], rel: Any, *, must_exist: bool = True,
                 never_send: tuple[str, ...] = ()) -> Path:
    """The absolute path of workspace-relative `rel` by the one path rule (SEND), or
    ToolError saying why not."""
    if not isinstance(rel, str) or not rel.strip():
        raise ToolError("path must be a non-empty workspace-relative string")
    if os.path.isabs(rel.strip()):
        raise ToolError(f"{rel}: absolute paths are not allowed; use a path relative to the workspace")
    try:
        real = PathRule(root, never_send=never_send).check(rel, Purpose.SEND).path
    except PathRefused as exc:
        raise ToolError(str(exc)) from None
    if must_exist and not real.exists():
        raise ToolError(f"{rel}: no such file in the workspace")
    return real


_recording = threading.local()


@contextlib.contextmanager
def recording_reads(workspace: str | os.PathLike[str]) -> Iterator[dict[str, str]]:
    """Collects {workspace-relative path: sha256} of every file the tools read on this
    thread while active: the journal replays an answer only while those files are
    unchanged (orchestration/store/journal.py)."""
    previous = getattr(_recording, "state", None)
    reads: dict[str, str] = {}
    _recording.state = (Path(workspace).resolve(), reads)
    try:
        yield reads
    finally:
        _recording.state = previous


def _note_read(path: Path, data: bytes) -> None:
    state = getattr(_recording, "state", None)
    if state is None:
        return
    root, reads = state
    try:
        rel = path.resolve().relative_to(root).as_posix()
    except ValueError:
        return
    reads[rel] = hashlib.sha256(data).hexdigest()


def _read_text(path: Path, rel: str) -> str:
    try:
        return read_text(path, rel, max_bytes=MAX_FILE_BYTES, purpose="for tools",
                         on_bytes=lambda data: _note_read(path, data))
    except NotText as exc:
        raise ToolError(str(exc)) from None


def _bounded(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... output truncated at {limit} characters]"


# --- the tools ------------------------------------------------------------------------------


def _read_file(root: Path, args: dict[str, Any], never_send: tuple[str, ...] = ()) -> str:
    rel = args.get("path")
    path = resolve_path(root, rel, never_send=never_send)
    lines = _read_text(path, str(rel)).splitlines()
    try:
        start = int(args.get("start_line") or 1)
        end = int(args.get("end_line") or start + MAX_READ_LINES - 1)
    except (TypeError, ValueError):
        raise ToolError("start_line and end_line must be integers (1-based, inclusive)") from None
    if not lines:
        return f"{rel}: empty file"
    if start > len(lines):
        raise ToolError(f"{rel} has {len(lines)} lines; start_line {start} is past the end")
    if start < 1 or end < start:
        raise ToolError(f"bad line range {start}-{end}: lines are 1-based and end >= start")
    end = min(end, len(lines), start + MAX_READ_LINES - 1)
    width = len(str(end))
    body = "\n".join(f"{n:>{width}}| {lines[n - 1]}" for n in range(start, end + 1))
    more = f"\n[lines {start}-{end} of {len(lines)}]" if end < len(lines) or start > 1 else ""
    return body + more


def _walk(root: Path):
    """Workspace files in a stable order, skipping VCS, dependency and state folders."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".")
                             or d in {".github"})
        for name in sorted(filenames):
            full = Path(dirpath) / name
            if full.is_symlink():
                continue  # a symlink may point outside; read_file checks explicit requests
            yield full, full.relative_to(root).as_posix()


def _search_text(root: Path, args: dict[str, Any], never_send: tuple[str, ...] = ()) -> str:
    pattern = args.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise ToolError("pattern must be a non-empty regular expression")
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ToolError(f"invalid regular expression {pattern!r}: {exc}") from None
    glob = args.get("path_glob")
    if glob is not None and not isinstance(glob, str):
        raise ToolError("path_glob must be a string such as 'src/**/*.py'")
    root_real = root.resolve()
    rule = PathRule(root_real, never_send=never_send)
    matches: list[str] = []
    scanned = 0
    for full, rel in _walk(root_real):
        if glob and not (fnmatch.fnmatch(rel, glob) or PurePosixPath(rel).match(glob)):
            continue
        if not rule.admits(rel, Purpose.SEND):
            continue
        scanned += 1
        if scanned > MAX_SEARCH_FILES:
            matches.append(f"[stopped after {MAX_SEARCH_FILES} files; narrow path_glob]")
            break
        try:
            text = _read_text(full, rel)
        except (ToolError, OSError):
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if regex.search(line[:2000]):
                matches.append(f"{rel}:{n}: {line.strip()[:200]}")
                if len(matches) >= MAX_SEARCH_MATCHES:
                    matches.append(f"[stopped at {MAX_SEARCH_MATCHES} matches; narrow the pattern or path_glob]")
                    return "\n".join(matches)
    return "\n".join(matches) if matches else "no matches"


def _list_symbols(root: Path, args: dict[str, Any], never_send: tuple[str, ...] = ()) -> str:
    rel = args.get("path")
    path = resolve_path(root, rel, never_send=never_send)
    text = _read_text(path, str(rel))
    language = detect(str(rel), text.split("\n", 1)[0]) or "text"
    try:
        symbols = list(list_symbols(text, language))
    except Exception as exc:  # a parser problem is the model's answer, not a crash of the call
        raise ToolError(f"{rel}: could not list symbols ({exc.__class__.__name__}: {exc})") from None
    lines = [_format_symbol(s) for s in symbols]
    return "\n".join(lines) if lines else f"{rel}: no symbols found ({language})"


def _format_symbol(symbol: Any) -> str:
    get = (lambda k: symbol.get(k)) if isinstance(symbol, dict) else (lambda k: getattr(symbol, k, None))
    name, kind = get("name"), get("kind")
    start, end = get("start_line"), get("end_line")
    where = f" lines {start + 1}-{end + 1}" if isinstance(start, int) and isinstance(end, int) else ""
    return f"{kind or 'symbol'} {name}{where}"


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            "read_file",
            "Read lines of a text file in the workspace. Lines are 1-based and inclusive; at most "
            f"{MAX_READ_LINES} lines per call. Secret files and paths outside the workspace are refused.",
            {"type": "object", "properties": {
                "path": {"type": "string", "description": "workspace-relative path, e.g. src/app.py"},
                "start_line": {"type": "integer", "minimum": 1},
                "end_line": {"type": "integer", "minimum": 1}},
             "required": ["path"]},
            _read_file,
        ),
        Tool(
            "search_text",
            "Search workspace text files for a Python regular expression; returns path:line: text "
            f"for at most {MAX_SEARCH_MATCHES} matches. Optionally restrict to a glob like 'src/**/*.py'.",
            {"type": "object", "properties": {
                "pattern": {"type": "string"},
                "path_glob": {"type": "string"}},
             "required": ["pattern"]},
            _search_text,
        ),
        Tool(
            "list_symbols",
            "List the functions, classes and methods defined in a workspace source file, with line ranges.",
            {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
            _list_symbols,
        ),
    )
}


def tool_definitions(names: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """API tool definitions for `names`; ValueError naming any unknown tool."""
    unknown = [n for n in names if n not in TOOLS]
    if unknown:
        raise ValueError(f"unknown agent tool(s) {', '.join(unknown)}; available: {', '.join(sorted(TOOLS))}")
    return [TOOLS[n].definition() for n in dict.fromkeys(names)]


def run_tool(workspace: str | os.PathLike[str], name: str, tool_input: Any, *,
             allowed: tuple[str, ...] | list[str] = tuple(TOOLS), limit: int = MAX_RESULT_CHARS,
             never_send: tuple[str, ...] = ()) -> tuple[str, bool]:
    """Run one tool call; returns (redacted, bounded text, is_error)."""
    if name not in allowed or name not in TOOLS:
        return f"tool {name!r} is not available for this call", True
    if not isinstance(tool_input, dict):
        return "tool input must be a JSON object", True
    try:
        text = TOOLS[name].run(Path(workspace), tool_input, tuple(never_send))
        is_error = False
    except ToolError as exc:
        text, is_error = str(exc), True
    except OSError as exc:
        text, is_error = f"{tool_input.get('path', '')}: {exc.strerror or exc.__class__.__name__}", True
    text, _ = redact(text)
    return _bounded(text, max(200, limit)), is_error


def run_tool_turn(workspace: str | os.PathLike[str], calls: list[tuple[str, str, Any]],
                  allowed: tuple[str, ...] | list[str], never_send: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """tool_result blocks for one model turn's tool_use calls [(id, name, input)], with the
    per-turn bounds applied (calls beyond the limits get an error result, never silence)."""
    results: list[dict[str, Any]] = []
    remaining = MAX_TURN_RESULT_CHARS
    for index, (tool_use_id, name, tool_input) in enumerate(calls):
        if index >= MAX_TOOL_CALLS_PER_TURN:
            text, is_error = f"too many tool calls in one turn (limit {MAX_TOOL_CALLS_PER_TURN}); ask again", True
        elif remaining < 200:
            text, is_error = "tool output budget for this turn is used up; ask again in the next turn", True
        else:
            text, is_error = run_tool(workspace, name, tool_input, allowed=allowed,
                                      limit=min(MAX_RESULT_CHARS, remaining), never_send=never_send)
        remaining -= len(text)
        block: dict[str, Any] = {"type": "tool_result", "tool_use_id": tool_use_id, "content": text}
        if is_error:
            block["is_error"] = True
        results.append(block)
    return results
