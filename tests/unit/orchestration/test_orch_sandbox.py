"""The sandbox refuses escapes with clear errors and names the script's line."""

from __future__ import annotations

import pytest

from refute.orchestration.sandbox import restricted as sandbox


def run_snippet(source: str) -> tuple[str, str]:
    """('compile', message) / ('runtime', message) / ('ok', '') for a module-level snippet."""
    code, problems = sandbox.compile_script(source, "<workflow esc>")
    if problems:
        return "compile", "; ".join(f"line {p.line}: {p.message}" for p in problems)
    try:
        exec(code, sandbox.make_globals({}, lambda line: None))
    except Exception as exc:  # noqa: BLE001 - every refusal is some exception with a message
        return "runtime", sandbox.describe(exc, "<workflow esc>", "esc.py")
    return "ok", ""


# (snippet, a word the refusal must mention)
ESCAPES = [
    ("import os", "not allowed"),
    ("import subprocess", "not allowed"),
    ("from os import system", "not allowed"),
    ("import importlib", "not allowed"),
    ("import json\njson.codecs.open('/etc/passwd')", "no attribute"),
    ("import string\nstring.Formatter().format('{0.__class__}', 1)", "no attribute"),
    ("import operator\noperator.attrgetter('__class__')(1)", "no attribute"),
    ("import operator\noperator.methodcaller('__reduce__')(1)", "no attribute"),
    ("__import__('os')", "_"),
    ("().__class__.__bases__[0].__subclasses__()", "_"),
    ("x = (1).__class__", "_"),
    ("getattr(1, '__class__')", "not allowed"),
    ("getattr(getattr, '__globals__')", "not allowed"),
    ("'{0.__class__}'.format(1)", "not allowed"),
    ("'{0.__globals__}'.format_map({})", "not allowed"),
    ("eval('1+1')", "eval"),
    ("exec('x=1')", "exec"),
    ("compile('1', 'f', 'eval')", "compile"),
    ("open('/etc/passwd').read()", "no files"),
    ("type(1).__subclasses__", "_"),
    ("t = type(1)", "not available"),
    ("object()", "not available"),
    ("globals()['x'] = 1", "not available"),
    ("vars()", "not available"),
    ("__builtins__['open']", "_"),
    ("def g():\n    yield 1\nf = g().gi_frame", "gi_frame"),
    ("def g():\n    yield 1\nf = getattr(g(), 'gi_frame')", "not allowed"),
    ("try:\n    1/0\nexcept Exception as e:\n    tb = e.__traceback__", "_"),
    ("try:\n    1/0\nexcept Exception as e:\n    f = getattr(e, 'with_traceback')(None).__traceback__.tb_frame", "_"),
    ("int.mro()", "not allowed"),
    ("setattr(str, 'upper', None)", "not available"),
    ("import json\njson.loads = None", "read-only"),
    ("class A:\n    pass\nA.__dict__", "_"),
    ("x = 'a' * 10**12", "refused"),
    ("x = [0] * (10**9)", "refused"),
    ("x = 10**10**10", "refused"),
    ("x = list(range(10**12))", "refused"),
    ("x = 1 << 10**9", "refused"),
    ("x = pow(10, 10**9)", "refused"),
    ("s = 'ab'\ns *= 10**11", "refused"),
    ("x = '%*d' % (10**11, 1)", "refused"),
    ("import operator\noperator.mul('a', 10**12)", "refused"),
    ("async def f():\n    pass", "not allowed"),
    ("import json as j\nx = j.decoder", "no attribute"),
    ("print(1, file=open)", "not available"),
]


def test_corpus_has_at_least_25_attempts():
    assert len(ESCAPES) >= 25


@pytest.mark.parametrize("snippet,word", ESCAPES, ids=[s.splitlines()[-1][:40] for s, _ in ESCAPES])
def test_escape_attempt_is_refused_with_clear_error(snippet, word):
    where, message = run_snippet(snippet)
    assert where in ("compile", "runtime"), f"not refused: {snippet!r}"
    assert word.lower() in message.lower(), message
    assert "line" in message  # every refusal names the line


def test_runtime_error_names_script_line():
    source = "x = 1\ny = 2\n\ndef f():\n    return {}['missing']\n\nf()\n"
    where, message = run_snippet(source)
    assert where == "runtime"
    assert message.startswith("esc.py line 5: KeyError")


def test_compile_error_carries_line():
    where, message = run_snippet("x = 1\nif x:\n    y = (\n")
    assert where == "compile"
    assert "line 3" in message and "SyntaxError" in message


def test_allowed_modules_and_language_features_work():
    source = """
import json, re, math, itertools, collections, textwrap, functools, operator, string, statistics, fnmatch
from collections import Counter
class Box:
    def __init__(self, v):
        self.v = v
b = Box(2)
b.v = 3
d = {}
d['k'] = [1, 2]
n = 0
n += 5
n *= 2
out = [json.dumps({'a': 1}), re.sub('a', 'b', 'aa'), math.sqrt(16), list(itertools.islice(itertools.count(), 3)),
       Counter('aab')['a'], textwrap.dedent('  x'), functools.reduce(operator.add, [1, 2, 3]), string.digits[:3],
       statistics.mean([1, 2, 3]), fnmatch.fnmatch('a.py', '*.py'), b.v, n, 2 ** 10, 'ab' * 2, '%s-%d' % ('x', 3),
       sorted([3, 1]), [x * 2 for x in range(3)], getattr(b, 'missing', 7)]
"""
    code, problems = sandbox.compile_script(source, "<workflow ok>")
    assert problems == []
    g = sandbox.make_globals({}, lambda line: None)
    exec(code, g)
    assert g["out"] == ['{"a": 1}', "bb", 4.0, [0, 1, 2], 2, "x", 6, "012", 2, True, 3, 10, 1024, "abab", "x-3",
                        [1, 3], [0, 2, 4], 7]


def test_print_goes_to_the_log():
    lines: list[str] = []
    code, problems = sandbox.compile_script("def f():\n    print('hello', 42)\nf()\n", "<workflow p>")
    assert not problems
    exec(code, sandbox.make_globals({}, lines.append))
    assert lines == ["hello 42"]


def test_api_objects_cannot_be_modified():
    class Api:
        pass

    where, message = "", ""
    code, _ = sandbox.compile_script("agent.x = 1", "<workflow w>")
    try:
        exec(code, sandbox.make_globals({"agent": Api()}, lambda line: None))
    except Exception as exc:  # noqa: BLE001
        message = str(exc)
    assert "read-only" in message
