"""Writing a new workflow from a plain-language request (`Engine.new_workflow`).

The model's answer is data: it is saved as `.refute/workflows/NAME.py` for a person to
read (and the editor to check) before anything runs it. The writing itself is an
ordinary run of the script below, so its call goes through the journal and budget and
shows up in the audit log like any other. If the first draft has problems
(`check_source`), the model gets one more try with the problems listed.
"""

from __future__ import annotations

import re

from refute.orchestration.runtime import api

AUTHOR_SCRIPT = '''
meta = {
    "name": "new_workflow",
    "description": "Write a refute workflow script from a plain-language request.",
    "phases": ["write"],
    "args": {"request": "", "reference": "", "example": "", "previous": "", "problems": []},
}

SYSTEM = (
    "You write refute workflow scripts: sandboxed Python with a module-level `meta` dict literal "
    "(name, description, phases, args) and `def main(args):`. Only the workflow API and the modules "
    "json, re, math, itertools, collections, textwrap, functools, operator, string, statistics, fnmatch "
    "are available; no files, network, clock, randomness, no names starting with an underscore. "
    "Answer with the complete script in one ```python block and nothing else."
)


def main(args):
    phase("write")
    parts = ["Request: " + args["request"], "", "Workflow API:", args["reference"], "", "Example workflow:",
             "```python", args["example"], "```"]
    if args["previous"]:
        parts += ["", "Your previous draft:", "```python", args["previous"], "```",
                  "It has these problems; fix all of them:"] + ["- " + p for p in args["problems"]]
    return agent("\\n".join(parts), system=SYSTEM, label="write workflow", max_tokens=8000)
'''

EXAMPLE = '''meta = {
    "name": "todo_review",
    "description": "List TODO comments that hide real bugs",
    "phases": ["find"],
    "args": {"max_units": 200},
}

SCHEMA = {"type": "object", "required": ["findings"], "properties": {"findings": {"type": "array", "items": {
    "type": "object", "required": ["path", "quote", "title", "explanation", "severity", "category"]}}}}


def main(args):
    phase("find")
    def look(unit):
        answer = agent("Which TODO comments here hide a real bug? Quote the code exactly.",
                       unit=unit, schema=SCHEMA, role="finder", default={"findings": []})
        return [report(f) for f in answer["findings"]]
    results = parallel([lambda u=u: look(u) for u in units()[: args["max_units"]]])
    return sum(len([f for f in r if f]) for r in results)
'''


def reference() -> str:
    """The API table the script author sees (the api module's own documentation)."""
    doc = api.__doc__ or ""
    return doc.split("\n\n`agent` fails loudly")[0].strip()


_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.S)


def extract_script(answer: str) -> str:
    """The script inside the answer's ```python block (or the whole answer)."""
    match = _FENCE.search(answer or "")
    text = match.group(1) if match else (answer or "")
    return text.strip() + "\n"


def slug(request: str, taken: set[str]) -> str:
    words = re.findall(r"[a-z0-9]+", request.lower())[:5]
    base = "_".join(words) or "workflow"
    if base[0].isdigit():
        base = "wf_" + base
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name
