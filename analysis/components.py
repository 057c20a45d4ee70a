"""Components: files grouped by directory and language up to a token budget.

Why: a per-unit finder sees one file; some bugs live between files (a handler and the
helper that forgot to check its input). Anthropic's security-scan workflow groups a
repository into components of about 25 files and sends one researcher per component and
lens, with read-only tools to look further. refute does the same with a token budget, so
a component's code fits the cached prefix that all lenses of that component share.

Rule (deterministic, from the units alone):
1. files of one directory and language form a group, in path order;
2. a group over `max_tokens` or `max_files` is cut, in path order, into chunks that fit;
3. consecutive chunks of the same language whose directories share a parent are merged
   while the result still fits (small sibling packages become one component).
A file larger than the budget is a component on its own whose text is cut at the budget
and says so (the researcher reads the rest with its tools). Every unit is in exactly one
component (tested).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any, Iterable

MAX_FILES = 25


@dataclass
class Component:
    id: str
    path: str  # the directory ("" for the root), or the common parent of merged directories
    language: str
    paths: list[str]
    tokens: int
    content_hash: str
    text: str
    unit_ids: list[str] = field(default_factory=list)
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        # What agent(unit=...) and render_unit read: a component is shown as one block.
        data.update(start_line=0, end_line=0, symbol="", kind="component",
                    header=f"component: {self.path or '.'} ({self.language}, {len(self.paths)} files)")
        return data


@dataclass
class _File:
    path: str
    language: str
    tokens: int
    units: list[dict[str, Any]]


def _files(units: Iterable[dict[str, Any]]) -> list[_File]:
    by_path: dict[str, _File] = {}
    for unit in units:
        entry = by_path.get(unit["path"])
        if entry is None:
            entry = by_path[unit["path"]] = _File(unit["path"], unit.get("language") or "text", 0, [])
        entry.tokens += int(unit.get("tokens") or 0)
        entry.units.append(unit)
    for entry in by_path.values():
        entry.units.sort(key=lambda u: int(u.get("start_line") or 0))
    return sorted(by_path.values(), key=lambda f: f.path)


def _parent(directory: str) -> str:
    parent = str(PurePosixPath(directory).parent) if directory else ""
    return "" if parent == "." else parent


def group_components(units: Iterable[dict[str, Any]], *, max_tokens: int = 24_000,
                     max_files: int = MAX_FILES) -> list["Component"]:
    """The components of `units` (dicts from units()), by the rule in the module docstring."""
    groups: dict[tuple[str, str], list[_File]] = {}
    for f in _files(units):
        directory = str(PurePosixPath(f.path).parent)
        groups.setdefault(("" if directory == "." else directory, f.language), []).append(f)
    chunks: list[tuple[str, str, list[_File]]] = []
    for (directory, language), files in sorted(groups.items()):
        current: list[_File] = []
        size = 0
        for f in files:
            if current and (size + f.tokens > max_tokens or len(current) >= max_files):
                chunks.append((directory, language, current))
                current, size = [], 0
            current.append(f)
            size += f.tokens
        if current:
            chunks.append((directory, language, current))
    merged: list[tuple[str, str, list[_File]]] = []
    for directory, language, files in chunks:
        if merged:
            prev_dir, prev_lang, prev_files = merged[-1]
            same_family = prev_lang == language and (
                _parent(directory) == _parent(prev_dir) or _parent(directory) == prev_dir)
            fits = (sum(f.tokens for f in prev_files) + sum(f.tokens for f in files) <= max_tokens
                    and len(prev_files) + len(files) <= max_files)
            if same_family and fits and prev_dir != directory:
                common = prev_dir if _parent(directory) == prev_dir else _parent(directory)
                merged[-1] = (common, language, prev_files + files)
                continue
        merged.append((directory, language, files))
    return [_component(directory, language, files, max_tokens) for directory, language, files in merged]


def _component(directory: str, language: str, files: list[_File], max_tokens: int) -> Component:
    parts: list[str] = []
    size = 0
    truncated = False
    for f in files:
        body: list[str] = []
        for unit in f.units:
            if size + int(unit.get("tokens") or 0) > max_tokens and (parts or body):
                truncated = True
                break
            body.append(unit["text"])
            size += int(unit.get("tokens") or 0)
        shown = "\n".join(body)
        note = "" if len(body) == len(f.units) else "\n... (the rest of this file is not shown: read it with read_file)"
        parts.append(f'<file path="{f.path}">\n{shown}{note}\n</file>')
    digest = hashlib.sha256()
    for f in files:
        for unit in f.units:
            digest.update(f"{f.path}\0{unit.get('content_hash', '')}\n".encode())
    paths = [f.path for f in files]
    return Component(
        id=hashlib.sha256(("component/v1\0" + language + "\0" + "\0".join(paths)).encode()).hexdigest()[:20],
        path=directory, language=language, paths=paths, tokens=sum(f.tokens for f in files),
        content_hash=digest.hexdigest(), text="\n".join(parts),
        unit_ids=[str(u.get("id")) for f in files for u in f.units], truncated=truncated,
    )
