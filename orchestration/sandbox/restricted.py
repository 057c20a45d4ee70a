"""The workflow sandbox: RestrictedPython plus refute's own guards.

What a workflow script can reach:
- the workflow API (passed in by the caller as `extra` globals) and a small set of
  builtins (no open, eval, exec, compile, type, object, vars, dir, globals, input);
- `import` of a short allow-list of pure modules, each exposed as a read-only proxy that
  carries only the listed names (a real module would leak `json.codecs.open`,
  `string.Formatter`, `operator.attrgetter('__class__')` and friends);
- attributes, except names starting with "_", frame / code / traceback / generator
  internals (gi_frame, tb_frame, f_globals, co_code, ...), `mro`, `format`/`format_map`,
  and any attribute whose value is a frame, code object, traceback or real module.

Resource guards: `*`, `**`, `<<` and `%` (and their augmented forms) go through
`_binop_`, which refuses results past MAX_SEQUENCE_ITEMS / MAX_INT_BITS before they are
computed, and `range` refuses more than MAX_RANGE items. These give a clear error at the
script's line for the common "allocate everything" mistakes; the worker process's
RLIMIT_AS is the backstop for anything else (it turns into a MemoryError at the line),
and a script that merely spins is stopped by killing its worker process (see worker.py).

Errors name the script's line: `compile_script` reports RestrictedPython's compile
errors and SyntaxErrors with line numbers, and `script_line(exc, filename)` finds the
innermost traceback frame that belongs to the script.
"""

from __future__ import annotations

import ast
import builtins
import collections
import fnmatch
import functools
import itertools
import json
import math
import operator
import re
import statistics
import string
import textwrap
import types
from dataclasses import dataclass
from typing import Any, Callable

from RestrictedPython import compile_restricted_exec
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
    raise_,
)
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer, copy_locations

MAX_SEQUENCE_ITEMS = 20_000_000  # a str/list/tuple/bytes result of * larger than this is refused
MAX_INT_BITS = 1_000_000  # ~300,000 decimal digits: ** and << beyond that are refused
MAX_RANGE = 20_000_000
SCRIPT_MODULE = "refute_workflow"  # __name__ inside scripts; classes they define carry it


class SandboxViolation(Exception):
    """The script tried something the sandbox does not allow."""


class ResourceLimit(SandboxViolation):
    """The script asked for a result too large to compute safely."""


# --- compile -------------------------------------------------------------------------


@dataclass
class CompileProblem:
    line: int  # 1-based, as RestrictedPython and SyntaxError report it
    col: int  # 0-based
    message: str


_GUARDED_BINOPS = {ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%"}
_NOT_AVAILABLE = {
    "open": "no files", "exec": "no dynamic code", "eval": "no dynamic code",
    "compile": "no dynamic code", "type": "no introspection", "object": "no introspection",
    "vars": "no introspection", "dir": "no introspection", "globals": "no introspection",
    "locals": "no introspection", "super": "no introspection", "input": "no input",
    "memoryview": "no raw memory", "bytearray": "no raw memory", "help": "no interpreter",
    "exit": "no interpreter", "quit": "no interpreter", "classmethod": "no descriptors",
    "staticmethod": "no descriptors", "property": "no descriptors",
    "setattr": "assign attributes of your own objects with obj.name = value",
    "delattr": "no attribute deletion", "id": "no object addresses", "breakpoint": "no debugger",
}


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy, plus size guards on the operators that can allocate
    unbounded memory or CPU in a single C call."""

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        node = self.node_contents_visit(node)
        symbol = _GUARDED_BINOPS.get(type(node.op))
        if symbol is None:
            return node
        call = ast.Call(
            func=ast.Name("_binop_", ast.Load()),
            args=[ast.Constant(symbol), node.left, node.right],
            keywords=[],
        )
        copy_locations(call, node)
        return call

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        """`d[k] += 1` works in scripts: RestrictedPython refuses augmented assignment to
        items outright; here it becomes `_inplaceitem_(d, k, "+=", 1)`, which evaluates
        `d` and `k` once and goes through the same write/read/operator guards as
        `d[k] = d[k] + 1`. Attributes and slices stay refused, with the reason."""
        if isinstance(node.target, ast.Subscript):
            if isinstance(node.target.slice, ast.Slice):
                self.error(node, "augmented assignment to a slice (a[i:j] += ...) is not allowed in workflows; "
                                 "write a[i:j] = a[i:j] + ...")
                return node
            target = self.node_contents_visit(node.target)
            value = self.visit(node.value)
            symbol = _AUG_SYMBOLS.get(type(node.op))
            if symbol is None:
                self.error(node, f"augmented operator {type(node.op).__name__} is not allowed in workflows")
                return node
            call = ast.Call(func=ast.Name("_inplaceitem_", ast.Load()),
                            args=[target.value, target.slice, ast.Constant(symbol), value], keywords=[])
            stmt = ast.Expr(call)
            copy_locations(call, node)
            copy_locations(stmt, node)
            return stmt
        if isinstance(node.target, ast.Attribute):
            self.error(node, "augmented assignment to an attribute (obj.x += ...) is not allowed in workflows; "
                             "write obj.x = obj.x + ... or keep the value in a dict: d[k] += ...")
            return node
        return super().visit_AugAssign(node)


_AUG_SYMBOLS = {
    ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.Div: "/=", ast.FloorDiv: "//=", ast.Mod: "%=",
    ast.Pow: "**=", ast.LShift: "<<=", ast.RShift: ">>=", ast.BitAnd: "&=", ast.BitOr: "|=", ast.BitXor: "^=",
    ast.MatMult: "@=",
}


_ERROR_LINE = re.compile(r"^Line (\d+): (.*)$", re.S)


def compile_script(source: str, filename: str) -> tuple[types.CodeType | None, list[CompileProblem]]:
    """Compile `source` under the sandbox policy; problems carry 1-based lines."""
    try:
        tree = ast.parse(source, filename, "exec")
    except SyntaxError as exc:
        col = max((exc.offset or 1) - 1, 0)
        return None, [CompileProblem(exc.lineno or 1, col, f"SyntaxError: {exc.msg}")]
    result = compile_restricted_exec(tree, filename=filename, policy=_Policy)
    problems: list[CompileProblem] = []
    for error in result.errors:
        match = _ERROR_LINE.match(error)
        if match:
            problems.append(CompileProblem(int(match.group(1)), 0, match.group(2).strip()))
        else:
            problems.append(CompileProblem(1, 0, error))
    if problems:
        return None, problems
    return result.code, []


# --- runtime guards --------------------------------------------------------------------

_SIZED = (str, bytes, list, tuple)


def _check_repeat(seq: Any, times: Any) -> None:
    if isinstance(seq, _SIZED) and isinstance(times, int) and not isinstance(times, bool):
        if times > 0 and len(seq) * times > MAX_SEQUENCE_ITEMS:
            raise ResourceLimit(
                f"{type(seq).__name__} of {len(seq):,} items * {times:,} would have more than "
                f"{MAX_SEQUENCE_ITEMS:,} items; refused"
            )


def _int_bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def guarded_binop(symbol: str, left: Any, right: Any) -> Any:
    if symbol == "*":
        _check_repeat(left, right)
        _check_repeat(right, left)
        return left * right
    if symbol == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            if _int_bits(left) * right > MAX_INT_BITS:
                raise ResourceLimit(
                    f"{_short(left)} ** {_short(right)} would have more than {MAX_INT_BITS:,} bits; refused"
                )
        return left**right
    if symbol == "<<":
        if isinstance(left, int) and isinstance(right, int) and _int_bits(left) + right > MAX_INT_BITS:
            raise ResourceLimit(f"{_short(left)} << {_short(right)} would have more than {MAX_INT_BITS:,} bits; refused")
        return left << right
    if symbol == "%":
        if isinstance(left, str) and re.search(r"%[-#0 +]*\*|%[-#0 +]*\d{8,}", left):
            raise ResourceLimit("%-formatting with a computed or huge width is refused")
        return left % right
    raise SandboxViolation(f"operator {symbol} is not guarded")  # pragma: no cover


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else text[:20] + "..."


_INPLACE = {
    "+=": operator.iadd, "-=": operator.isub, "/=": operator.itruediv, "//=": operator.ifloordiv,
    "&=": operator.iand, "|=": operator.ior, "^=": operator.ixor, ">>=": operator.irshift,
    "@=": operator.imatmul,
}


def guarded_inplace(op: str, left: Any, right: Any) -> Any:
    if op in ("*=", "**=", "<<=", "%="):
        return guarded_binop(op[:-1], left, right)
    try:
        return _INPLACE[op](left, right)
    except KeyError:
        raise SandboxViolation(f"augmented operator {op} is not allowed") from None


def guarded_inplace_item(obj: Any, key: Any, op: str, value: Any) -> None:
    """`obj[key] op= value` from script code (see _Policy.visit_AugAssign)."""
    target = guarded_write(obj)
    target[key] = guarded_inplace(op, guarded_getitem(obj, key), value)


def guarded_range(*args: Any) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise ResourceLimit(f"range of {len(r):,} items is larger than {MAX_RANGE:,}; refused")
    return r


def guarded_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    if mod is not None:
        return pow(base, exp, mod)  # modular power stays small
    return guarded_binop("**", base, exp)


_DENIED_ATTRIBUTES = frozenset(INSPECT_ATTRIBUTES | {"mro", "format", "format_map", "gi_suspended"})
_DENIED_PREFIXES = ("_", "f_", "tb_", "co_", "gi_", "cr_", "ag_", "func_", "im_")
_DENIED_VALUE_TYPES = (types.FrameType, types.CodeType, types.TracebackType, types.ModuleType)


def guarded_getattr(obj: Any, name: Any) -> Any:
    """Attribute reads from script code (`obj.name` and the `getattr` builtin)."""
    if not isinstance(name, str):
        raise TypeError("attribute name must be a string")
    if name in _DENIED_ATTRIBUTES or name.startswith(_DENIED_PREFIXES):
        raise SandboxViolation(f"access to attribute {name!r} is not allowed in workflows")
    value = safer_getattr(obj, name, raise_)
    if isinstance(value, _DENIED_VALUE_TYPES):
        raise SandboxViolation(f"attribute {name!r} leads to interpreter internals; not allowed in workflows")
    return value


_MISSING = object()


def getattr_builtin(obj: Any, name: Any, default: Any = _MISSING) -> Any:
    try:
        return guarded_getattr(obj, name)
    except AttributeError:
        if default is _MISSING:
            raise
        return default


def hasattr_builtin(obj: Any, name: Any) -> bool:
    try:
        guarded_getattr(obj, name)
        return True
    except AttributeError:
        return False


class _ReadOnly:
    """What `_write_` hands back for objects a script may not change."""

    __slots__ = ("_what",)

    def __init__(self, obj: Any):
        object.__setattr__(self, "_what", type(obj).__name__)

    def _refuse(self, *args: Any) -> None:
        raise SandboxViolation(
            f"a {object.__getattribute__(self, '_what')} is read-only in workflows: only dicts, lists and "
            "objects of classes the script defines can be changed"
        )

    __setattr__ = __delattr__ = __setitem__ = __delitem__ = _refuse


def guarded_write(obj: Any) -> Any:
    """Attribute/item writes: the script's own dicts, lists and class instances only."""
    if isinstance(obj, (dict, list)):  # incl. defaultdict, Counter, OrderedDict
        return obj
    owner = getattr(type(obj), "__module__", None)
    if owner == SCRIPT_MODULE or (isinstance(obj, type) and getattr(obj, "__module__", None) == SCRIPT_MODULE):
        return obj
    return _ReadOnly(obj)


def guarded_getitem(obj: Any, index: Any) -> Any:
    return obj[index]


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


# --- modules -----------------------------------------------------------------------------


class SandboxModule:
    """A read-only view of an allowed module carrying only its listed names."""

    __slots__ = ("_name", "_attrs")

    def __init__(self, name: str, attrs: dict[str, Any]):
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_attrs", attrs)

    def __getattr__(self, item: str) -> Any:
        attrs = object.__getattribute__(self, "_attrs")
        if item in attrs:
            return attrs[item]
        raise AttributeError(f"module {object.__getattribute__(self, '_name')!r} has no attribute {item!r} in workflows")

    def __setattr__(self, key: str, value: Any) -> None:
        raise SandboxViolation("modules are read-only in workflows")

    def __repr__(self) -> str:
        return f"<module {object.__getattribute__(self, '_name')!r} (sandboxed)>"


def _public(module: types.ModuleType, names: list[str] | None = None, exclude: set[str] = frozenset()) -> dict[str, Any]:
    if names is None:
        names = [n for n in dir(module) if not n.startswith("_")]
    out = {}
    for name in names:
        if name in exclude:
            continue
        value = getattr(module, name)
        if isinstance(value, types.ModuleType):
            continue  # a submodule would be a back door (json.codecs.open)
        out[name] = value
    return out


def _guarded_operator() -> dict[str, Any]:
    attrs = _public(operator, exclude={"attrgetter", "methodcaller", "call"})
    for name, symbol in (("mul", "*"), ("imul", "*"), ("pow", "**"), ("ipow", "**"),
                         ("lshift", "<<"), ("ilshift", "<<"), ("mod", "%"), ("imod", "%")):
        attrs[name] = functools.partial(guarded_binop, symbol)
    attrs["repeat"] = functools.partial(guarded_binop, "*")
    return attrs


def _build_modules() -> dict[str, SandboxModule]:
    specs: dict[str, dict[str, Any]] = {
        "json": _public(json, ["loads", "dumps", "JSONDecodeError"]),
        "re": _public(re, ["compile", "search", "match", "fullmatch", "findall", "finditer", "sub",
                           "subn", "split", "escape", "error", "IGNORECASE", "I", "MULTILINE", "M",
                           "DOTALL", "S", "VERBOSE", "X", "ASCII", "A"]),
        "math": _public(math),
        "itertools": _public(itertools),
        "collections": _public(collections, ["Counter", "OrderedDict", "defaultdict", "deque",
                                             "namedtuple", "ChainMap"]),
        "textwrap": _public(textwrap, ["wrap", "fill", "dedent", "indent", "shorten"]),
        "functools": _public(functools, ["reduce", "partial", "cmp_to_key", "lru_cache", "cache"]),
        "operator": _guarded_operator(),
        "string": _public(string, ["ascii_letters", "ascii_lowercase", "ascii_uppercase", "digits",
                                   "hexdigits", "octdigits", "punctuation", "printable", "whitespace",
                                   "capwords"]),
        "statistics": _public(statistics, ["mean", "fmean", "geometric_mean", "harmonic_mean", "median",
                                           "median_low", "median_high", "mode", "multimode", "quantiles",
                                           "pstdev", "pvariance", "stdev", "variance", "StatisticsError"]),
        "fnmatch": _public(fnmatch, ["fnmatch", "fnmatchcase", "filter", "translate"]),
    }
    return {name: SandboxModule(name, attrs) for name, attrs in specs.items()}


ALLOWED_MODULES = _build_modules()


def guarded_import(name: str, globals_: Any = None, locals_: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    if level != 0:
        raise ImportError("relative imports are not allowed in workflows")
    module = ALLOWED_MODULES.get(name)
    if module is None:
        raise ImportError(
            f"import of {name!r} is not allowed in workflows; allowed modules: {', '.join(sorted(ALLOWED_MODULES))}"
        )
    return module


# --- globals ---------------------------------------------------------------------------


class _LogPrinter(PrintCollector):
    """`print` in a script goes to the run's log, line by line."""

    sink: Callable[[str], None] = staticmethod(lambda line: None)

    def write(self, text: str) -> None:
        super().write(text)
        joined = "".join(self.txt)
        *lines, rest = joined.split("\n")
        for line in lines:
            type(self).sink(line)
        self.txt = [rest] if rest else []


def _print_factory(sink: Callable[[str], None]) -> type:
    return type("ScriptPrint", (_LogPrinter,), {"sink": staticmethod(sink)})


def _safe_builtins() -> dict[str, Any]:
    names = dict(safe_builtins)
    for name in ("id", "setattr", "delattr", "__build_class__"):
        names.pop(name, None)
    names.update({
        "__build_class__": builtins.__build_class__,
        "list": list, "dict": dict, "set": set, "frozenset": frozenset, "tuple": tuple,
        "enumerate": enumerate, "zip": zip, "map": map, "filter": filter, "reversed": reversed,
        "sorted": sorted, "min": min, "max": max, "sum": sum, "any": any, "all": all, "iter": iter,
        "next": next, "getattr": getattr_builtin, "hasattr": hasattr_builtin,
        "range": guarded_range, "pow": guarded_pow, "__import__": guarded_import,
        "StopIteration": StopIteration,
    })
    return names


SAFE_BUILTINS = _safe_builtins()


def make_globals(extra: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    """Fresh globals for one script: the guards RestrictedPython's code expects, the safe
    builtins and the caller's API names."""
    g: dict[str, Any] = {
        "__builtins__": SAFE_BUILTINS,
        "__name__": SCRIPT_MODULE,
        "__metaclass__": type,
        "_getattr_": guarded_getattr,
        "_getitem_": guarded_getitem,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": guarded_write,
        "_inplacevar_": guarded_inplace,
        "_inplaceitem_": guarded_inplace_item,
        "_binop_": guarded_binop,
        "_apply_": _apply,
        "_print_": _print_factory(log),
    }
    g.update(extra)
    return g


# --- errors ------------------------------------------------------------------------------


def script_line(exc: BaseException, filename: str) -> int | None:
    """1-based line of the innermost traceback frame that runs the script `filename`."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe(exc: BaseException, filename: str, display_name: str) -> str:
    """'NAME line N: Type: message' for people; hints for names the sandbox does not provide."""
    line = script_line(exc, filename)
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, NameError):
        missing = re.search(r"name '(\w+)' is not defined", str(exc))
        if missing and missing.group(1) in _NOT_AVAILABLE:
            message = (f"NameError: {missing.group(1)!r} is not available in workflows "
                       f"({_NOT_AVAILABLE[missing.group(1)]})")
    if isinstance(exc, MemoryError):
        message = "MemoryError: the script ran out of memory (the worker's memory limit)"
    where = f"{display_name} line {line}" if line else display_name
    return f"{where}: {message}"
