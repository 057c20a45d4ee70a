"""Workflow scripts: find them, read their `meta` without running them, check them.

A workflow is a .py file with a `meta` dict (name, description, phases, args: the
default arguments) and a `main(args)` function. Three places, in this order of
precedence: a path to a .py file; the workspace's `.refute/workflows/NAME.py`; the
bundled `refute/orchestration/workflows/NAME.py`. Bundled scripts are read as TEXT with
importlib.resources and run in the sandbox like any other: they are never imported.
Listing and checking are static (AST only) so an editor can call them on every
keystroke without executing anything.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from refute.orchestration.errors import InvalidInput, NotFound
from refute.orchestration.model import JSONObject, stable_hash
from refute.orchestration.sandbox.restricted import ALLOWED_MODULES, compile_script

WORKSPACE_WORKFLOWS = Path(".refute") / "workflows"
_BUNDLED_PACKAGE = "refute.orchestration.workflows"


class WorkflowNotFound(NotFound):
    """No bundled or workspace workflow by that name, and no such .py file."""


class WorkflowArgsError(InvalidInput):
    """Arguments a workflow's `meta` does not accept: the message names each one, its
    declared type and what was given (checked before a run or plan starts)."""


# meta["arg_types"] may declare a type by name; otherwise the default's type is the type.
_ARG_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "list": (list, tuple), "object": (dict,),
}


def _declared_type(default: Any) -> str | None:
    for name, kinds in (("boolean", (bool,)), ("integer", (int,)), ("number", (float,)), ("string", (str,)),
                        ("list", (list, tuple)), ("object", (dict,))):
        if isinstance(default, kinds):
            return name
    return None  # a None default: any value


def check_workflow_args(meta: dict[str, Any], args: dict[str, Any] | None, workflow: str = "") -> dict[str, Any]:
    """`args` checked against `meta["args"]` (names and defaults) and the optional
    `meta["arg_types"]` ({"name": "string" | "integer" | "number" | "boolean" | "list" |
    "object"}) and `meta["required"]` (names that must be given, non-empty); returns them unchanged or raises WorkflowArgsError naming every problem.
    Issue 10: `migrate` with instruction=5 crashed mid-run with AttributeError."""
    declared = dict(meta.get("args") or {})
    types = dict(meta.get("arg_types") or {})
    given = dict(args or {})
    label = f"workflow {workflow}: " if workflow else ""
    problems: list[str] = []
    for name, value in given.items():
        if name not in declared and name not in types:
            accepted = ", ".join(sorted(set(declared) | set(types))) or "no arguments"
            problems.append(f"unknown argument {name!r} (it accepts: {accepted})")
            continue
        kind = types.get(name) or _declared_type(declared.get(name))
        if kind is None:
            continue
        if kind not in _ARG_TYPES:
            problems.append(f"argument {name!r}: meta declares unknown type {kind!r} "
                            f"(use one of {', '.join(_ARG_TYPES)})")
            continue
        ok = isinstance(value, _ARG_TYPES[kind]) and not (isinstance(value, bool) and kind in ("integer", "number"))
        if not ok:
            hint = f" (quote it for a string: --arg '{name}=\"{value}\"')" if kind == "string" else ""
            problems.append(f"argument {name!r} must be a {kind}, got {type(value).__name__} {value!r}{hint}")
    for name in meta.get("required") or ():
        value = given.get(name, declared.get(name))
        if value is None or (isinstance(value, (str, list, dict)) and not value):
            problems.append(f"argument {name!r} is required: --arg {name}=...")
    if problems:
        raise WorkflowArgsError(label + "; ".join(problems))
    return given


@dataclass
class ScriptProblem:
    """A problem in a workflow file. `line`/`col` are 0-based (the shared position
    contract); `str()` shows the 1-based line people read."""

    line: int
    col: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line + 1}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "col": self.col, "message": self.message}


@dataclass
class WorkflowSource:
    name: str
    source: str
    origin: str  # bundled | workspace | file | stored (a run's saved copy)
    path: str | None = None  # where it was read from, for people
    meta: JSONObject = field(default_factory=dict)  # as far as it can be read statically

    @property
    def hash(self) -> str:
        return stable_hash("workflow/v1", self.source)

    @property
    def filename(self) -> str:
        """The code object's filename: unique, so tracebacks map back to the script."""
        return f"<workflow {self.name}>"

    @property
    def display(self) -> str:
        return self.path or f"{self.name}.py"

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": str(self.meta.get("description", "")),
            "phases": list(self.meta.get("phases", []) or []),
            "args": dict(self.meta.get("args", {}) or {}),
            "origin": self.origin,
            "path": self.path,
            "hash": self.hash,
        }


def static_meta(source: str) -> dict[str, Any]:
    """The `meta` dict when it is a literal at module level; {} otherwise."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "meta" for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def check_source(source: str, filename: str = "<workflow>") -> list[ScriptProblem]:
    """Syntax errors, sandbox violations, and a missing `meta` dict or `main(args)`."""
    _, compile_problems = compile_script(source, filename)
    problems = [ScriptProblem(max(p.line - 1, 0), p.col, p.message) for p in compile_problems]
    if any(p.message.startswith("SyntaxError") for p in problems):
        return problems
    tree = ast.parse(source)
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        for name in names:
            if name not in ALLOWED_MODULES:
                problems.append(ScriptProblem(node.lineno - 1, node.col_offset,
                                              f"import of {name!r} is not allowed in workflows; allowed modules: "
                                              f"{', '.join(sorted(ALLOWED_MODULES))}"))
    meta_node = next((n for n in tree.body if isinstance(n, ast.Assign)
                      and any(isinstance(t, ast.Name) and t.id == "meta" for t in n.targets)), None)
    main_node = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"), None)
    if meta_node is None:
        problems.append(ScriptProblem(0, 0, "no `meta` dict at module level (name, description, phases, args)"))
    elif not isinstance(meta_node.value, ast.Dict):
        problems.append(ScriptProblem(meta_node.lineno - 1, meta_node.col_offset, "`meta` must be a dict literal"))
    else:
        meta = static_meta(source)
        if not meta:
            problems.append(ScriptProblem(meta_node.lineno - 1, meta_node.col_offset,
                                          "`meta` must contain only literal values"))
        else:
            if "args" in meta and not isinstance(meta["args"], dict):
                problems.append(ScriptProblem(meta_node.lineno - 1, meta_node.col_offset, "meta['args'] must be a dict"))
            if "phases" in meta and not isinstance(meta["phases"], (list, tuple)):
                problems.append(ScriptProblem(meta_node.lineno - 1, meta_node.col_offset, "meta['phases'] must be a list"))
    if main_node is None:
        problems.append(ScriptProblem(0, 0, "no `def main(args):` at module level"))
    elif len(main_node.args.args) + len(main_node.args.posonlyargs) != 1:
        problems.append(ScriptProblem(main_node.lineno - 1, main_node.col_offset, "main must take exactly one argument: main(args)"))
    return sorted(problems, key=lambda p: (p.line, p.col))


def _bundled_names() -> list[str]:
    try:
        files = resources.files(_BUNDLED_PACKAGE)
    except ModuleNotFoundError:
        return []
    return sorted(f.name[:-3] for f in files.iterdir() if f.name.endswith(".py") and not f.name.startswith("_"))


def _bundled(name: str) -> WorkflowSource | None:
    if name not in _bundled_names():
        return None
    text = resources.files(_BUNDLED_PACKAGE).joinpath(f"{name}.py").read_text("utf-8")
    return WorkflowSource(name, text, "bundled", f"(bundled) {name}.py", static_meta(text))


def _from_file(path: Path, origin: str, display: str) -> WorkflowSource:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowNotFound(f"cannot read workflow {display}: {exc}") from None
    meta = static_meta(text)
    name = str(meta.get("name") or path.stem) if origin == "file" else path.stem
    return WorkflowSource(name, text, origin, display, meta)


def resolve(workspace: Path, workflow: str) -> WorkflowSource:
    """A workflow by name (workspace override first, then bundled) or by path to a .py."""
    workspace = Path(workspace)
    if workflow.endswith(".py") or "/" in workflow or "\\" in workflow:
        path = Path(workflow)
        if not path.is_absolute():
            path = workspace / path
        if not path.is_file():
            raise WorkflowNotFound(f"workflow file not found: {workflow}")
        try:
            display = path.resolve().relative_to(workspace.resolve()).as_posix()
        except ValueError:
            display = str(path)
        return _from_file(path, "file", display)
    local = workspace / WORKSPACE_WORKFLOWS / f"{workflow}.py"
    if local.is_file():
        return _from_file(local, "workspace", (WORKSPACE_WORKFLOWS / f"{workflow}.py").as_posix())
    bundled = _bundled(workflow)
    if bundled is not None:
        return bundled
    known = sorted(set(_bundled_names()) | {p.stem for p in (workspace / WORKSPACE_WORKFLOWS).glob("*.py")})
    raise WorkflowNotFound(
        f"no workflow named {workflow!r}; known: {', '.join(known) or '(none)'} "
        f"(or give a path to a .py file)"
    )


def available(workspace: Path) -> list[WorkflowSource]:
    """Every workflow by name: bundled ones, overridden by the workspace's of the same name."""
    by_name: dict[str, WorkflowSource] = {}
    for name in _bundled_names():
        src = _bundled(name)
        if src is not None:
            by_name[name] = src
    folder = Path(workspace) / WORKSPACE_WORKFLOWS
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        try:
            by_name[path.stem] = _from_file(path, "workspace", (WORKSPACE_WORKFLOWS / path.name).as_posix())
        except WorkflowNotFound:
            continue
    return [by_name[n] for n in sorted(by_name)]
