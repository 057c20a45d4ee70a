"""Any tool's SARIF 2.1.0 as flags (file, CWE, lines) to score against a corpus's truth.

Where a result's CWE is found, in this order, all of them kept (a result may carry
several): the result's own `properties` (`cwe`, `tags` like `external/cwe/cwe-89`), its
`taxa` when they point at a CWE taxonomy, then its rule (by `ruleIndex`, else by
`ruleId`, in the driver's or an extension's `rules`): `properties.cwe`, `properties.tags`,
`relationships` to CWE. A rule id that is itself a CWE (`CWE-89`, `refute/security/CWE-89`)
counts too. A result with no CWE anywhere is kept as a flag without one: it can flag no
case, and it shows in `unmatched`.

Paths: `artifactLocation.uri`, made relative to the corpus folder (a `file://` URI or an
absolute path inside it is accepted; `uriBaseId` is ignored, the URI is taken as
relative to the corpus). Bandit's shipped SARIF gives 571 results; read this way and
scored with OWASP's rule it reproduces TPR 0.249 and FPR 0.060 (tests/unit/evaluation).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

from refute.orchestration.errors import InvalidInput
from refute.orchestration.evaluation.scoring import Flag

_CWE_TAG = re.compile(r"(?:^|[/:\s])cwe[-_/:]?(\d+)\b", re.I)


class SarifError(InvalidInput):
    """The SARIF file cannot be read; the message says why."""


def read_sarif(path: str | Path, corpus_root: str | Path) -> tuple[list[Flag], str]:
    """(flags, tool name(s)) of a SARIF file."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise SarifError(f"SARIF {path}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise SarifError(f"SARIF {path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        raise SarifError(f"SARIF {path}: no 'runs' list: is this a SARIF 2.1.0 file?")
    root = Path(corpus_root).resolve()
    flags: list[Flag] = []
    tools = []
    for run in data["runs"]:
        driver = ((run.get("tool") or {}).get("driver") or {})
        tools.append(str(driver.get("name") or "unknown tool"))
        rules = _rules(run)
        for result in run.get("results") or []:
            cwes = sorted(set(result_cwes(result, rules))) or [None]
            for location in result.get("locations") or []:
                physical = location.get("physicalLocation") or {}
                uri = (physical.get("artifactLocation") or {}).get("uri")
                if not uri:
                    continue
                rel = _relative(uri, root)
                region = physical.get("region") or {}
                start = region.get("startLine")
                end = region.get("endLine", start)
                for cwe in cwes:
                    flags.append(Flag.make(rel, cwe, start, end))
    return flags, ", ".join(dict.fromkeys(tools))


def result_cwes(result: dict[str, Any], rules: dict[Any, dict[str, Any]]) -> Iterator[str]:
    yield from _from_properties(result.get("properties") or {})
    for taxon in result.get("taxa") or []:
        component = str(((taxon.get("toolComponent") or {}).get("name")) or "")
        if component.upper() == "CWE" or str(taxon.get("id", "")).upper().startswith("CWE"):
            yield from _numbers(str(taxon.get("id", "")))
    rule = None
    index = result.get("ruleIndex")
    if isinstance(index, int) and index in rules:
        rule = rules[index]
    elif result.get("ruleId") in rules:
        rule = rules[result["ruleId"]]
    if rule is not None:
        yield from _from_properties(rule.get("properties") or {})
        for relation in rule.get("relationships") or []:
            target = relation.get("target") or {}
            component = str(((target.get("toolComponent") or {}).get("name")) or "")
            if component.upper() == "CWE" or str(target.get("id", "")).upper().startswith("CWE"):
                yield from _numbers(str(target.get("id", "")))
    rule_id = str(result.get("ruleId") or "")
    for match in _CWE_TAG.finditer(rule_id):
        yield str(int(match.group(1)))


def _rules(run: dict[str, Any]) -> dict[Any, dict[str, Any]]:
    """Rules by index (driver rules) and by id (driver and extensions)."""
    tool = run.get("tool") or {}
    out: dict[Any, dict[str, Any]] = {}
    for i, rule in enumerate(((tool.get("driver") or {}).get("rules")) or []):
        out[i] = rule
        if rule.get("id"):
            out[rule["id"]] = rule
    for extension in tool.get("extensions") or []:
        for rule in extension.get("rules") or []:
            if rule.get("id"):
                out.setdefault(rule["id"], rule)
    return out


def _from_properties(properties: dict[str, Any]) -> Iterator[str]:
    cwe = properties.get("cwe")
    for value in cwe if isinstance(cwe, list) else [cwe]:
        if value is not None:
            yield from _numbers(str(value))
    for tag in properties.get("tags") or []:
        for match in _CWE_TAG.finditer(str(tag)):
            yield str(int(match.group(1)))


def _numbers(text: str) -> Iterator[str]:
    for match in re.finditer(r"\d+", text):
        yield str(int(match.group(0)))


def _relative(uri: str, root: Path) -> str:
    if uri.startswith("file:"):
        uri = unquote(urlparse(uri).path)
    path = Path(uri)
    if path.is_absolute():
        try:
            return path.resolve().relative_to(root).as_posix()
        except ValueError:
            return path.as_posix()  # outside the corpus: can match no case
    return uri.replace("\\", "/").removeprefix("./")
