"""Scripted answers for the language-server end-to-end tests (provider "scripted").

Finder calls get the findings planted in the fixture files; refuters confirm them;
the migrate workflow is told to change. Deterministic, no model involved.
"""

PLANTED = {
    "app.py": [
        {"path": "app.py", "quote": "os.system(cmd)", "title": "Shell command built from input",
         "explanation": "cmd reaches a shell unescaped", "severity": "error", "category": "security",
         "cwe": "CWE-78", "fix": {"old": "os.system(cmd)", "new": "subprocess.run(cmd, check=True)"}},
        {"path": "app.py", "quote": "range(len(items) + 1)", "title": "Off-by-one reads past the end",
         "explanation": "the last iteration indexes items[len(items)]", "severity": "warning",
         "category": "bug"},
    ],
    "lib/util.py": [
        {"path": "lib/util.py", "quote": "eval(expr)", "title": "eval of caller input",
         "explanation": "expr is evaluated as code", "severity": "error", "category": "security",
         "fix": {"old": "eval(expr)", "new": "ast.literal_eval(expr)"}},
    ],
}


NEW_WORKFLOW = """```python
meta = {
    "name": "todo_hunt",
    "description": "List TODO comments",
    "phases": ["find"],
    "args": {},
}


def main(args):
    phase("find")
    return len(units())
```"""


def answer(request):
    label = request.get("label") or ""
    prompt = request.get("prompt") or ""
    if label.startswith("audit:find "):
        path = label[len("audit:find "):].strip()
        return {"findings": PLANTED.get(path, [])}
    if label.startswith("refute"):
        return {"verdict": "confirmed", "reason": "the quoted call really receives caller input",
                "evidence": "see the quote"}
    if label == "write workflow":
        return NEW_WORKFLOW
    if label.startswith("migrate "):
        return {"change": True, "reason": "subprocess.run raises on failure"}
    if "findings" in prompt.lower():
        return {"findings": []}
    return {"verdict": "uncertain", "reason": "unscripted question", "evidence": ""}
