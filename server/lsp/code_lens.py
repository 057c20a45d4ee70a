"""Code lenses on workflow files (`.refute/workflows/*.py` and the bundled ones): Run and
Plan, above the `meta` dict (or the first line)."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from .session import Session

WORKFLOWS_DIR = ".refute/workflows/"
_META = re.compile(r"^meta\s*[:=]", re.MULTILINE)


def bundled_dir() -> Path | None:
    try:
        return Path(str(resources.files("refute.orchestration.workflows"))).resolve()
    except (ModuleNotFoundError, TypeError):
        return None


def workflow_target(session: Session, uri: str) -> tuple[str, str] | None:
    """(what to pass as `workflow`, display name) if `uri` is a workflow file."""
    path = session.documents.path(uri)
    if path is not None and path.startswith(WORKFLOWS_DIR) and path.endswith(".py") and "/" not in path[len(WORKFLOWS_DIR):]:
        name = Path(path).stem
        return name, name
    fs = to_fs_path(uri)
    bundled = bundled_dir()
    if fs and bundled is not None and fs.endswith(".py"):
        file = Path(fs).resolve()
        if file.parent == bundled and not file.name.startswith("_"):
            name = file.stem
            # A workspace workflow of the same name would win a by-name lookup.
            overridden = session.root is not None and (session.root / WORKFLOWS_DIR / file.name).exists()
            return (str(file) if overridden else name), name
    return None


def lenses(session: Session, uri: str, text: str) -> list[types.CodeLens]:
    target = workflow_target(session, uri)
    if target is None:
        return []
    workflow, name = target
    match = _META.search(text)
    line = text.count("\n", 0, match.start()) if match else 0
    rng = types.Range(types.Position(line, 0), types.Position(line, 0))
    return [
        types.CodeLens(range=rng, command=types.Command(title=f"▶ Run {name}", command="refute.run",
                                                        arguments=[{"workflow": workflow}])),
        types.CodeLens(range=rng, command=types.Command(title="Plan", command="refute.plan",
                                                        arguments=[{"workflow": workflow}])),
    ]


def register(server: LanguageServer, session: Session) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))
    def code_lens(params: types.CodeLensParams) -> list[types.CodeLens] | None:
        uri = params.text_document.uri
        doc = server.workspace.text_documents.get(uri)
        if doc is None:
            return None
        return lenses(session, uri, doc.source) or None
