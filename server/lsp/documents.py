"""Where a workspace-relative path's text comes from: the editor's buffer when the file is
open (what the person sees, saved or not), else the file on disk.

Also maps between workspace-relative POSIX paths (the engine's) and `file://` URIs (the
client's). Everything here is cheap and runs on the event loop.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace import Workspace

from refute.analysis.paths import PathRefused, PathRule, Purpose

_CACHE_LIMIT = 20_000  # paths and URIs remembered; past it the cache starts over


class Documents:
    def __init__(self, root: Path, workspace: Workspace | None = None):
        self.root = root.resolve()
        self._rule = PathRule(self.root)
        self.workspace = workspace
        # Disk texts by path, keyed by (mtime_ns, size) so a rewrite is noticed.
        self._disk: dict[str, tuple[tuple[int, int], str]] = {}
        # Every hover, code action and publish maps a path or URI. realpath is an lstat
        # per path component, and each system call lets the engine's threads take the
        # GIL from a request in flight: under a busy run that showed in request latency.
        # A URI that names a file keeps its mapping (a symlink that moves a workspace
        # file elsewhere while the server runs is not worth a stat per request).
        self._uri_of: dict[str, str] = {}
        self._path_of: dict[str, str] = {}

    # --- paths and URIs -------------------------------------------------------------

    def uri(self, path: str) -> str:
        uri = self._uri_of.get(path)
        if uri is None:
            uri = from_fs_path(str(self.root / PurePosixPath(path))) or ""
            if len(self._uri_of) >= _CACHE_LIMIT:
                self._uri_of.clear()
            self._uri_of[path] = uri
        return uri

    def path(self, uri: str) -> str | None:
        """Workspace-relative POSIX path of a file URI, or None if it is outside the
        workspace (or not a file URI)."""
        try:
            return self._path_of[uri]
        except KeyError:
            pass
        path = self._resolve(uri)
        if path is not None:  # not cached when outside: the file may be created (or linked) later
            if len(self._path_of) >= _CACHE_LIMIT:
                self._path_of.clear()
            self._path_of[uri] = path
        return path

    def _resolve(self, uri: str) -> str | None:
        fs = to_fs_path(uri)
        if not fs:
            return None
        try:  # the one path rule: inside after resolving symlinks (a link out is not ours)
            rel = self._rule.check(os.path.abspath(fs), Purpose.LOCATE).rel
        except PathRefused:
            return None
        return "" if rel == "." else rel

    def abs_path(self, path: str) -> Path:
        return self.root / PurePosixPath(path)

    # --- texts ----------------------------------------------------------------------

    def open_text(self, path: str) -> tuple[str, int | None] | None:
        """(text, version) of the open buffer for `path`, or None if it is not open."""
        if self.workspace is None:
            return None
        uri = self.uri(path)
        doc = self.workspace.text_documents.get(uri)
        if doc is None:
            return None
        return doc.source, doc.version

    def is_open(self, path: str) -> bool:
        return self.open_text(path) is not None

    def text(self, path: str) -> str | None:
        """The buffer text if open, else the disk text, else None (file gone)."""
        opened = self.open_text(path)
        if opened is not None:
            return opened[0]
        return self.disk_text(path)

    def disk_text(self, path: str) -> str | None:
        full = self.abs_path(path)
        try:
            st = full.stat()
        except OSError:
            self._disk.pop(path, None)
            return None
        stamp = (st.st_mtime_ns, st.st_size)
        cached = self._disk.get(path)
        if cached and cached[0] == stamp:
            return cached[1]
        try:
            text = full.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        self._disk[path] = (stamp, text)
        return text

    def lines(self, path: str) -> list[str]:
        text = self.text(path)
        return text.split("\n") if text is not None else []
