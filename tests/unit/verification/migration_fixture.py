"""A real package copy to migrate: pip's own modules (from this venv), in a git repository.

The API change: `logger = logging.getLogger(__name__)` becomes pip's own
`getLogger` (pip._internal.utils.logging.getLogger, which exists for exactly this).
The copy holds the first FILES modules (by path) that declare such a logger, plus
pip/_internal/utils/logging.py, plus tools/check_imports.py: the project's own check,
which fails when `from pip._internal.X import getLogger` names a module not in the tree.

`respond(request)` is the scripted model (the provider imports this file in the run's
worker). Its script, per file:
- BROKEN_FILE: the first proposal leaves the file unparseable (a missing parenthesis);
- WRONG_IMPORT_FILE: the first proposal imports from a module that does not exist, so
  the project's check fails; the revision fixes it;
- ALWAYS_WRONG_FILE: both proposals import the wrong module: the check fails twice;
- REJECTED_FILE: the reviewers reject both proposals;
- UNCHANGED_FILE: the editor says the file needs no change;
- every other file: one correct proposal, approved, check passes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pip

FILES = 32
PATTERN = "logger = logging.getLogger(__name__)"
GOOD = "from pip._internal.utils.logging import getLogger\n\nlogger = getLogger(__name__)"
WRONG = "from pip._internal.utils.log import getLogger\n\nlogger = getLogger(__name__)"
BROKEN = "from pip._internal.utils.logging import getLogger\n\nlogger = getLogger(__name__"
GUIDE = ("# Migration guide: pip's getLogger\n\n- Replace `logger = logging.getLogger(__name__)` by "
         "`logger = getLogger(__name__)`.\n- Import it right above: `from pip._internal.utils.logging import "
         "getLogger`.\n- Keep `import logging` (other uses remain).\n"
         # A real guide is long (call sites, idioms, examples): this one is long enough to
         # pass every model's minimum cacheable prefix (calls/cache_minimums.json).
         + "".join(f"- Call site {i}: `logger = logging.getLogger(__name__)` becomes `logger = getLogger(__name__)`; "
                   "leave every other use of `logging` as it is.\n" for i in range(160)))

CHECK_SCRIPT = '''"""Fails when `from pip._internal.X import getLogger` names a module missing from this tree."""
import pathlib, re, sys

bad = 0
for name in sys.argv[1:]:
    for number, line in enumerate(pathlib.Path(name).read_text().splitlines(), 1):
        m = re.match(r"from (pip\\._internal[\\w.]*) import getLogger", line)
        if m:
            rel = pathlib.Path(*m.group(1).split("."))
            if not (rel.with_suffix(".py").exists() or (rel / "__init__.py").exists()):
                print(f"{name}:{number}: no module named {m.group(1)}")
                bad += 1
sys.exit(1 if bad else 0)
'''


def pip_sources() -> list[tuple[str, Path]]:
    root = Path(pip.__file__).parent.parent
    found = []
    for path in sorted((root / "pip" / "_internal").rglob("*.py")):
        if PATTERN in path.read_text("utf-8"):
            found.append((path.relative_to(root).as_posix(), path))
    return found


def make_copy(target: Path) -> dict[str, str]:
    """The copy, committed; returns the roles {"broken": path, ...} and "files" (json list)."""
    sources = pip_sources()[:FILES]
    assert len(sources) == FILES, f"this venv's pip has only {len(sources)} modules with a logger"
    root = Path(pip.__file__).parent.parent
    for rel, path in sources:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / rel)
    helper = "pip/_internal/utils/logging.py"
    if not (target / helper).exists():
        (target / helper).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / helper, target / helper)
    (target / "tools").mkdir()
    (target / "tools" / "check_imports.py").write_text(CHECK_SCRIPT)
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "copy"]):
        subprocess.run(["git", *cmd], cwd=target, check=True)
    rels = [rel for rel, _ in sources]
    return {"broken": rels[0], "wrong_import": rels[1], "always_wrong": rels[2], "rejected": rels[3],
            "unchanged": rels[4], "files": json.dumps(rels)}


ROLES_ENV = "REFUTE_TEST_MIGRATION_ROLES"  # the worker inherits the test's environment


def respond(request: dict) -> object:
    roles = json.loads(Path(os.environ[ROLES_ENV]).read_text())
    label = request.get("label") or ""
    if label.startswith("migrate:survey"):
        paths = re.findall(r"^File (\S+):$", request["prompt"], re.M)
        return {"touches": [{"path": p, "what": "logging.getLogger(__name__)"} for p in paths],
                "conventions": ["use pip._internal.utils.logging.getLogger"]}
    if label == "migrate:guide":
        return GUIDE
    m = re.match(r"migrate:edit (\S+)( \(revision\))?$", label)
    if m:
        path, revision = m.group(1), bool(m.group(2))
        if path == roles["unchanged"] or path not in json.loads(roles["files"]):
            return {"path": path, "changed": False, "edits": [], "reason": "keeps the stdlib logger on purpose"}
        new = GOOD
        if path == roles["broken"] and not revision:
            new = BROKEN
        if path == roles["wrong_import"] and not revision:
            new = WRONG
        if path == roles["always_wrong"]:
            new = WRONG
        return {"path": path, "changed": True, "reason": "use pip's getLogger", "edits": [{"old": PATTERN, "new": new}]}
    m = re.match(r"migrate:review (\d) (\S+)$", label)
    if m:
        if m.group(2) == roles["rejected"]:
            return {"verdict": "reject", "reason": "this module must keep the stdlib logger", "evidence": PATTERN}
        return {"verdict": "approve", "reason": "same logger, pip's helper", "evidence": "getLogger"}
    raise ValueError("no scripted answer for " + label)
