"""Planning a workspace: discovery plus the work units of every kept file.

Units are cached by content: the key is the file's bytes hash, its path, language, the
unit budget and the splitter version, so planning an unchanged tree again only reads
and hashes files. The cache is a diskcache under `<root>/.refute/state/cache/` unless
`cache_dir` says otherwise; a cache that cannot be opened or written is skipped (the
plan is still right, only slower).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from refute.analysis.changes import changed_since, overlaps
from refute.analysis.discover import Discovery, Skipped, SourceFile, discover
from refute.analysis.paths import PathRule, Purpose
from refute.analysis.source_kinds import exclusion_reason
from refute.analysis.units import WorkUnit, split_text

SPLITTER_VERSION = 1  # bump when units.py changes what it produces
DEFAULT_CACHE_DIR = Path(".refute") / "state" / "cache"
_CACHE_SIZE_LIMIT = 512 * 1024 * 1024


@dataclass
class WorkspacePlan:
    root: str
    files: list[SourceFile]
    skipped: list[Skipped]
    units: list[WorkUnit]
    max_unit_tokens: int
    cache_hits: int = 0
    cache_misses: int = 0
    errors: list[Skipped] = field(default_factory=list)  # files that changed while planning

    @property
    def total_tokens(self) -> int:
        return sum(unit.tokens for unit in self.units)

    def units_for(self, path: str) -> list[WorkUnit]:
        return [unit for unit in self.units if unit.path == path]

    def to_dict(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "max_unit_tokens": self.max_unit_tokens,
            "files": [f.to_dict() for f in self.files],
            "skipped": [s.to_dict() for s in self.skipped + self.errors],
            "units": [u.to_dict() for u in self.units],
            "total_tokens": self.total_tokens,
            "cache": {"hits": self.cache_hits, "misses": self.cache_misses},
        }


def _open_cache(directory: Path):
    try:
        import diskcache

        directory.mkdir(parents=True, exist_ok=True)
        return diskcache.Cache(str(directory), size_limit=_CACHE_SIZE_LIMIT)
    except Exception:  # unwritable or corrupt cache: plan without it
        return None


def normalize_paths(root: Path, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Workspace-relative POSIX paths; raises ValueError for a path outside the workspace
    and FileNotFoundError for one that does not exist."""
    out: list[str] = []
    rule = PathRule(root)
    for raw in paths:
        admitted = rule.check(raw, Purpose.READ)  # PathRefused is a ValueError
        if not admitted.path.exists():
            raise FileNotFoundError(f"no such file or folder in the workspace: {raw}")
        out.append("" if admitted.rel == "." else admitted.rel)
    return out


def plan_workspace(
    root: str | os.PathLike[str],
    *,
    paths: Iterable[str | os.PathLike[str]] = (),
    selection: tuple[int, int] | None = None,
    max_unit_tokens: int = 8000,
    cache_dir: str | os.PathLike[str] | None = None,
    extra_ignores: Iterable[str] = (),
    use_cache: bool = True,
    never_send: Iterable[str] = (),
    code_only: bool = False,
    include_tests: bool = False,
    since: str | None = None,
) -> WorkspacePlan:
    """Files, skipped files and work units of a workspace (or of `paths` inside it).

    `selection=(start_line, end_line)`, 0-based inclusive, needs exactly one file in
    `paths` and keeps only the units that overlap those lines. Secret-looking files (the
    path rule, plus `never_send` globs) are skipped with the reason "secret" and never
    read, split or cached. `code_only` leaves out docs, data, config and (unless
    `include_tests`) tests, listed in `skipped` with the reason (source_kinds.py).
    `since=REF` keeps the files changed since a git ref and in them the units that overlap
    a changed line (changes.py); the rest are listed as "unchanged since REF"."""
    root_path = Path(root).resolve()
    if not root_path.is_dir():
        raise NotADirectoryError(f"workspace root is not a folder: {root}")
    rel_paths = normalize_paths(root_path, paths)
    if selection is not None:
        if len(rel_paths) != 1 or not (root_path / rel_paths[0]).is_file():
            raise ValueError("a selection needs exactly one file in paths")
        start_line, end_line = int(selection[0]), int(selection[1])
        if start_line < 0 or end_line < start_line:
            raise ValueError(f"bad selection {selection}: need 0 <= start_line <= end_line")
    found: Discovery = discover(root_path, extra_ignores, paths=[p for p in rel_paths if p], never_send=never_send)
    skipped = list(found.skipped)
    known = {f.path for f in found.files} | {s.path for s in skipped}
    rule = PathRule(root_path, never_send=never_send)
    for rel in rel_paths:
        if rel and (root_path / rel).is_file() and rel not in known:
            skipped.append(Skipped(rel, "secret" if rule.secret_reason(rel) else "ignored (.gitignore)"))

    files = list(found.files)
    if code_only:
        kept: list[SourceFile] = []
        for source in files:
            reason = exclusion_reason(source.path, source.language, include_tests=include_tests)
            if reason is None:
                kept.append(source)
            else:
                skipped.append(Skipped(source.path, reason))
        files = kept
    changed: dict[str, list[tuple[int, int]]] | None = None
    if since:
        changed = changed_since(root_path, since)
        unchanged = [f for f in files if f.path not in changed]
        skipped.extend(Skipped(f.path, f"unchanged since {since}") for f in unchanged)
        files = [f for f in files if f.path in changed]

    cache = _open_cache(Path(cache_dir) if cache_dir else root_path / DEFAULT_CACHE_DIR) if use_cache else None
    units: list[WorkUnit] = []
    errors: list[Skipped] = []
    hits = misses = 0
    to_store: list[tuple[str, list[WorkUnit]]] = []
    try:
        for source in files:
            try:
                data = Path(source.abs_path).read_bytes()
                text = data.decode("utf-8")
            except OSError as exc:
                errors.append(Skipped(source.path, f"unreadable ({exc.strerror})"))
                continue
            except UnicodeDecodeError:
                errors.append(Skipped(source.path, "not UTF-8 (changed while planning)"))
                continue
            # The cache holds the units' structure, never their text (a secret inside code
            # must not sit in a cache on disk): the text is sliced from the file on a hit.
            key = "units-structure/v%d/%s/%s/%s/%d" % (
                SPLITTER_VERSION, hashlib.sha256(data).hexdigest(), source.path, source.language, max_unit_tokens)
            file_units = None
            if cache is not None:
                try:
                    file_units = cache.get(key)
                except Exception:
                    file_units = None
            if file_units is None:
                misses += 1
                file_units = split_text(source.path, text, source.language, max_unit_tokens)
                to_store.append((key, [replace(u, text="") for u in file_units]))
            else:
                hits += 1
                file_units = [replace(u, text=data[u.start_byte:u.end_byte].decode("utf-8", "surrogatepass"))
                              for u in file_units]
            if changed is not None:
                ranges = changed[source.path]
                file_units = [u for u in file_units if overlaps(ranges, u.start_line, u.end_line)]
            units.extend(file_units)
        if cache is not None and to_store:
            try:
                with cache.transact():  # one transaction: per-key commits are slow
                    for key, value in to_store:
                        cache.set(key, value)
            except Exception:
                pass  # a full or read-only cache costs speed, never correctness
    finally:
        if cache is not None:
            cache.close()

    if selection is not None:
        units = [u for u in units if u.end_line >= start_line and u.start_line <= end_line]
    skipped.sort(key=lambda s: s.path)
    return WorkspacePlan(
        root=str(root_path), files=files, skipped=skipped, units=units,
        max_unit_tokens=max_unit_tokens, cache_hits=hits, cache_misses=misses, errors=errors,
    )
