"""A scripted security auditor for eval tests: deterministic, crude, and labelled scripted.

It is not a model and its numbers say nothing about one; it gives the eval harness
answers whose every consequence the tests can compute independently:
- finder: every line of its unit matching a sink pattern becomes a candidate with that
  pattern's CWE, quoting the line verbatim;
- refuter: reads the claim's file and refutes the claim when the file contains a known
  defence for that CWE (e.g. secrets. for weak randomness), else confirms;
- anything else (the threat model): a short text.
The engine's worker imports it by path (--scripted-fixture FILE.py:answer) with the eval
workspace as its working directory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SINKS = [
    (re.compile(r"\bopen\("), "CWE-22"),
    (re.compile(r"\.execute\("), "CWE-89"),
    (re.compile(r"subprocess\.|os\.system\(|os\.popen\("), "CWE-78"),
    (re.compile(r"\beval\(|\bexec\("), "CWE-94"),
    (re.compile(r"pickle\.loads|yaml\.load\("), "CWE-502"),
    (re.compile(r"hashlib\.(md5|sha1|new)\("), "CWE-328"),
    (re.compile(r"\.search\(.*filter|ldap.*search"), "CWE-90"),
    (re.compile(r"\bredirect\("), "CWE-601"),
    (re.compile(r"set_cookie\("), "CWE-614"),
    (re.compile(r"session\["), "CWE-501"),
    (re.compile(r"\brandom\.\w+\("), "CWE-330"),
    (re.compile(r"\.xpath\("), "CWE-643"),
    (re.compile(r"render_template_string\(|Markup\("), "CWE-79"),
    (re.compile(r"etree\.(parse|fromstring|XMLParser)|parseString\("), "CWE-611"),
]
DEFENCES = {
    "CWE-22": re.compile(r"os\.path\.basename|secure_filename"),
    "CWE-89": re.compile(r"execute\([^)]*,\s*[(\[{]"),
    "CWE-78": re.compile(r"shlex\.quote"),
    "CWE-94": re.compile(r"ast\.literal_eval"),
    "CWE-502": re.compile(r"yaml\.safe_load|SafeLoader"),
    "CWE-328": re.compile(r"sha256|sha384|sha512|sha3_"),
    "CWE-330": re.compile(r"\bsecrets\.|SystemRandom"),
    "CWE-614": re.compile(r"httponly=True", re.I),
    "CWE-611": re.compile(r"resolve_entities=False|defusedxml"),
    "CWE-79": re.compile(r"escape\("),
}
_CODE = re.compile(r'<code path="([^"]+)" lines="(\d+)-(\d+)"')
_CLAIM = re.compile(r"Claim to check:\n(\{.*?\n\})\n", re.S)


def candidates_in(path: str, text: str, first: int = 1, last: int | None = None) -> list[dict]:
    """The finder's answer for lines first..last (1-based) of a file."""
    out = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if number < first or (last is not None and number > last) or not line.strip():
            continue
        for pattern, cwe in SINKS:
            if pattern.search(line):
                out.append({"path": path, "quote": line.strip(), "title": f"scripted: {cwe} sink",
                            "explanation": "a sink pattern matched (scripted auditor)", "severity": "warning",
                            "category": "security", "cwe": cwe})
    return out


def defended(text: str, cwe: str) -> bool:
    pattern = DEFENCES.get(cwe)
    return bool(pattern and pattern.search(text))


def answer(request: dict):
    role = request.get("role")
    prompt = request["prompt"]
    if role == "finder":
        match = _CODE.search((request.get("context") or "") + "\n" + prompt)  # unit code: in the cached prefix
        if not match:
            return {"findings": []}
        path, first, last = match.group(1), int(match.group(2)), int(match.group(3))
        return {"findings": candidates_in(path, (Path(request["workspace"]) / path).read_text("utf-8"), first, last)}
    if role == "refuter":
        claim = json.loads(_CLAIM.search(prompt).group(1))
        text = (Path(request["workspace"]) / claim["path"]).read_text("utf-8")
        if defended(text, claim.get("cwe", "")):
            return {"verdict": "refuted", "reason": "scripted: the file has a defence for this CWE",
                    "evidence": DEFENCES[claim["cwe"]].search(text).group(0)}
        return {"verdict": "confirmed", "reason": "scripted: no defence found", "evidence": claim["quote"]}
    return "scripted threat model: the request handlers take attacker-controlled input."
